"""Weather Station: starts the sensor script in a thread and serves the prediction counters on port 6015."""

import threading

from flask import Flask, jsonify, render_template
from platform_sdk import get_mongo_db_database
from scripts import script1

app = Flask(__name__)


def counters():
    """How many times each weather class was predicted, from the app's own database."""
    stats = get_mongo_db_database()["model_stat"]
    return {doc["class"]: doc["count"] for doc in stats.find({}, {"_id": 0})}


@app.route("/app/stats")
def stats():
    """The counters as JSON."""
    return jsonify(counters())


@app.route("/show_details")
def show_details():
    """The counters and the latest values, as a page."""
    return render_template("stats.html", counts=counters(), latest=script1.LATEST)


@app.route("/")
def index():
    """The same page at the root."""
    return show_details()


if __name__ == "__main__":
    threading.Thread(target=script1.run, daemon=True).start()
    app.run(host="0.0.0.0", port=6015)
