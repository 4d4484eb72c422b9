"""The demo web application: a small Flask app served by gunicorn.

GET /        a greeting naming the instance, its availability zone and the version
GET /health  JSON for load balancer and deploy health checks
The version is the VERSION file of the checked-out git tag; the instance
and zone come from the environment gunicorn is started with.
"""
import os

from flask import Flask, jsonify

app = Flask(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "VERSION"), encoding="utf-8") as f:
    VERSION = f.read().strip()
INSTANCE = os.environ.get("APP_INSTANCE_ID", "unknown")
ZONE = os.environ.get("APP_AVAILABILITY_ZONE", "unknown")


@app.route("/")
def index():
    return f"Hello from {INSTANCE} in {ZONE}, version {VERSION}\n"


@app.route("/health")
def health():
    return jsonify(status="ok", version=VERSION, instance=INSTANCE, availability_zone=ZONE)
