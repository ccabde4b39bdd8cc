from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

admin.site.site_header = "region PAY 障害補償 管理"
admin.site.site_title = "region PAY 障害補償"
admin.site.index_title = "運営事務局・コールセンター"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("claims.api")),
    path("api/v1/", include("payouts.api")),  # receipts (§6) and the gift vendor's webhooks
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),  # the language switch (a POST form, no script)
    # The receipt site: /r/<token> (the link in the message).
    path("r/", include("payouts.urls")),
    # The travellers' special site (補償対応特設サイト); staff sign in at /admin/.
    path("", include("claims.site.urls")),
]
