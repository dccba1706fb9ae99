from django.apps import AppConfig


class LevqorConfig(AppConfig):
    name = "levqor"
    verbose_name = "Levqor core"

    def ready(self):
        from levqor import checks  # noqa: F401  (registers the system checks)
        from levqor.sentry import sentry_init

        sentry_init()  # web and worker processes alike; a no-op without SENTRY_DSN
