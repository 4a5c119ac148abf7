"""Loop: TEMP and PRESSURE in, the weather model's prediction out to the DISPLAY, counted per class."""

import time

from platform_sdk import (
    get_logger,
    get_mongo_db_database,
    get_prediction,
    get_sensor_data,
    send_controller_data,
)

NORMAL_PRESSURE = 1013.0  # hPa; below it the script estimates rain, 1 mm for every 4 hPa
HPA_PER_MM = 4.0
LATEST = {}


def value(reading):
    """A sensor's number: the reading itself, or its one field when the reading is a dict."""
    if isinstance(reading, dict):
        reading = next(iter(reading.values()))
    return float(reading)


def run():
    """Predict every 3 seconds, forever."""
    logger = get_logger("weather-station", "6015")
    stats = get_mongo_db_database()["model_stat"]
    while True:
        try:
            temp = value(get_sensor_data(0))
            pressure = value(get_sensor_data(1))
            perc = max(0.0, (NORMAL_PRESSURE - pressure) / HPA_PER_MM)
            val = get_prediction(0, {"perc": perc, "temp_max": temp})["output"]
            stats.update_one({"class": val}, {"$inc": {"count": 1}}, upsert=True)
            send_controller_data(0, val)
            LATEST.update(temperature=temp, pressure=pressure, prediction=val, at=time.strftime("%H:%M:%S"))
        except Exception as exc:
            logger.warning("weather loop: %s", exc)
        time.sleep(3)


if __name__ == "__main__":
    run()
