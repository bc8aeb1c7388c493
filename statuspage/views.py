"""Error pages: API clients get JSON even when the error happens outside a view (clients fail on HTML)."""

from django.http import JsonResponse
from django.views import defaults

API_PREFIXES = ("/v1/", "/api/v2/")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def _json(status: int, error: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": error, "message": message}, status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    # Reached for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a bad Host, ...
    if _is_api(request):
        return _json(400, "bad_request", "The request could not be read (too large, too many fields or malformed).")
    return defaults.bad_request(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if _is_api(request):
        return _json(500, "internal_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request, template_name)
