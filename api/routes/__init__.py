"""HTTP routes, registered on one table that also produces the OpenAPI document."""

from api.routing import RouteTable

ROUTES = RouteTable()
