"""List the benchmarks; run one with ``python -m bench.<name>``."""

BENCHES = {
    "face_calibrate": "true/false accepts per encoder on ../shared/data; the thresholds to ship",
    "face_speed": "per-frame face pipeline vs face_recognition's naive loop; matching 100..50,000 templates",
    "plate_hardset": "builds the hard plate set (small, night, blur, colours) from ../shared/data; --test-images",
    "plate_bench": "plate reading accuracy and time vs full-frame OCR (naive), on ../shared/data",
    "barrier_latency": "open command -> coil seen by the device, over a pty at 9600 and 115200 baud",
    "sms_pdu": "SMS PDUs checked by smspdudecoder (ours vs python-gsmmodem-new where installed); encode and send times",
    "mqtt_bench": "publish latency on loopback and how fast a 10,000-event backlog drains",
    "query_bench": "`gate-edge query` on 5,000 people and 2,000 vehicles vs a naive scan",
    "registry_sync": "the office publishes 5,000 people and 2,000 vehicles: a gate's full sync, one change's latency",
    "peer_replay": "a peer's 10,000-event backlog applied (batched vs one transaction each); a 1,000-event gap filled",
    "memory": "RSS of the face and plate models over 240 frames: glibc defaults vs the daemon's fixed mmap threshold",
    "console_latency": "a gate's decision to its row in the console's browser page (p50, p95 over 20 passages)",
    "notify_bench": "1,000 notifications drained after a channel's outage vs a bare POST loop; alert -> first request",
    "portal_household": "the residents' portal's GET /my/api/household on 306 units (p50, p95), and its query alone",
    "soak": "an hour of looping media with broker restarts and barrier faults (not a benchmark: a soak)",
}

if __name__ == "__main__":
    for name, what in BENCHES.items():
        print(f"python -m bench.{name:16s} {what}")
