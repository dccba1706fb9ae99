from django.urls import path

from accounts import views

urlpatterns = [
    path("login", views.login_page, name="login"),
    path("login/confirm", views.login_confirm, name="login-confirm"),
    path("logout", views.logout_page, name="logout"),
    path("account", views.account_page, name="account"),
    path("developer", views.developer_page, name="developer"),
    path("developer/keys/<uuid:key_id>/rotate", views.developer_key_rotate, name="developer-key-rotate"),
    path("developer/keys/<uuid:key_id>/revoke", views.developer_key_revoke, name="developer-key-revoke"),
]
