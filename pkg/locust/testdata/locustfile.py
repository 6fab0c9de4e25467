# Locustfile of package locust's end-to-end test: two user classes against the
# host the master sends. The whole worker process sends at most
# STAMPEDE_TEST_BUDGET requests, then its users only wait, so a test can know
# when everything was reported.
import os

from locust import HttpUser, constant, task

BUDGET = int(os.environ.get("STAMPEDE_TEST_BUDGET", "100"))
_sent = 0


def _take():
    # gevent switches only on I/O: no other user runs between the test and the add.
    global _sent
    if _sent >= BUDGET:
        return False
    _sent += 1
    return True


class WebsiteUser(HttpUser):
    weight = 3
    wait_time = constant(0.02)

    @task
    def index(self):
        if _take():
            self.client.get("/")


class ApiUser(HttpUser):
    weight = 1
    wait_time = constant(0.02)

    @task
    def api(self):
        if _take():
            self.client.get("/api/items", name="/api/items")
