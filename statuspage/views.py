"""Error pages: API clients get JSON even when the error happens outside a view (clients fail on HTML)."""

from django.views import defaults

from .public_api import public_error

API_PREFIXES = ("/v1/", "/api/v2/")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    # Reached for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a bad Host, ...
    if _is_api(request):
        return public_error(
            "bad_request", "The request could not be read (too large, too many fields or malformed).", 400
        )
    return defaults.bad_request(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if _is_api(request):
        return public_error("internal_error", "Something went wrong on our side; it has been logged.", 500)
    return defaults.server_error(request, template_name)
