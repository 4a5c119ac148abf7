"""fan-monitor: read the fan, ask the anomaly model, sound the buzzer and notify once per failure episode.

Settings (environment): FAN_MONITOR_THRESHOLD (failure probability that starts an alarm, default 0.8),
FAN_MONITOR_RESET (below it the episode ends, default 0.5), FAN_MONITOR_INTERVAL (seconds between
readings, default 1), FAN_MONITOR_BEEPS (buzzer beeps per alarm, default 3). The page listens on
CANOPY_APP_PORT.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from page import serve
from platform_sdk import get_logger, get_sensor_data, model_call, notify, send_controller_data
from watch import Watch, env_float, model_inputs, probability_of, run_forever

DEFAULT_PORT = 8080


def alarm(probability: float, reading: dict[str, Any], beeps: int) -> None:
    """Sound the buzzer and send a notification for a new failure episode."""
    send_controller_data("buzzer", "beep", times=beeps)
    notify(
        subject=f"Fan failure predicted (p={probability:.2f})",
        body=f"The fan-anomaly model gives a failure probability of {probability:.2f} for {reading}.",
    )


def main() -> None:
    """Start the watch loop in the background and serve the status page."""
    log = get_logger()
    watch = Watch(env_float("FAN_MONITOR_THRESHOLD", 0.8), env_float("FAN_MONITOR_RESET", 0.5))
    beeps = int(env_float("FAN_MONITOR_BEEPS", 3))

    def step() -> None:
        reading = get_sensor_data("fan")
        probability = probability_of(model_call("anomaly", model_inputs(reading)))
        if watch.record(reading, probability):
            log.warning("failure probability %.2f crossed %.2f: alarm", probability, watch.threshold)
            alarm(probability, reading, beeps)

    interval = env_float("FAN_MONITOR_INTERVAL", 1.0)
    threading.Thread(target=run_forever, args=(step, watch, interval, log), daemon=True).start()
    port = int(os.environ.get("CANOPY_APP_PORT", DEFAULT_PORT))
    log.info("fan-monitor serving its page on port %d", port)
    serve(watch, port)


if __name__ == "__main__":
    main()
