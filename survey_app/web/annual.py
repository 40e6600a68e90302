"""The annual survey: the online multi-page household form and staff entry of paper forms."""

from flask import Blueprint

bp = Blueprint("annual", __name__)
