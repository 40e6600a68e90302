"""QR forms on citizens' phones: counter posters and single-use dossier codes."""

from flask import Blueprint

bp = Blueprint("qr", __name__)
