"""Tablet kiosks at the counter: enrolment, the touch questionnaire, the device API, staff management."""

from flask import Blueprint

bp = Blueprint("kiosk", __name__)
