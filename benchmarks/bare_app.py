"""The baseline for the submission benchmark: a bare Flask endpoint that parses the same JSON
payload and stores nothing, served by gunicorn exactly like the real app (`bare_app:app`)."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/v1/responses")
def create_response():
    payload = request.get_json()
    if not isinstance(payload, dict) or not isinstance(payload.get("answers"), dict):
        return {"errors": {"request": ["must be a JSON object with answers"]}}, 422
    return {"id": payload["id"], "status": "created"}, 201
