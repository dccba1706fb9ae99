from django.apps import AppConfig


class LevqorConfig(AppConfig):
    name = "levqor"
    verbose_name = "Levqor core"

    def ready(self):
        from levqor import checks  # noqa: F401  (registers the system checks)
        from levqor.counters import pipeline_rider_register
        from levqor.metrics import pipeline_rider
        from levqor.sentry import sentry_init

        sentry_init()  # web and worker processes alike; a no-op without SENTRY_DSN
        # A finished minute of metrics rides in the rate limiter's Redis round trip (levqor.metrics).
        pipeline_rider_register(pipeline_rider)
