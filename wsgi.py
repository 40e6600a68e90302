from survey_app import create_app, freeze_startup_objects

app = create_app()
freeze_startup_objects()
