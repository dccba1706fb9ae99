from django.apps import AppConfig

SIGN_IN_LINK_PURGE_SCHEDULE = "accounts.login_tokens_purge (expired sign-in links)"


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from accounts import openapi  # noqa: F401  (registers the schema's description of key auth)
        from accounts.models import ApiKey, User
        from accounts.personal_data import accounts_personal_data_register
        from accounts.services.key_auth import api_key_deleted_forget, owner_saved_forget_keys
        from levqor.schedules import schedule_every

        schedule_every(app_config=self, name=SIGN_IN_LINK_PURGE_SCHEDULE, func="accounts.tasks.login_tokens_purge",
                       minutes=60)
        accounts_personal_data_register()
        post_save.connect(owner_saved_forget_keys, sender=User, dispatch_uid="accounts.owner_saved_forget_keys")
        post_delete.connect(api_key_deleted_forget, sender=ApiKey, dispatch_uid="accounts.api_key_deleted_forget")
