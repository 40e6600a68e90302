"""Annual SIPAS report tables and exports (XLSX, CSV, JSON, print), and raw data export."""

from flask import Blueprint

bp = Blueprint("exports", __name__)
