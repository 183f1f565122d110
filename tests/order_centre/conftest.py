"""The order centre's tests reuse the S1 world: a tenant with three stores over in-memory JST and 店+."""

from flows_s1.conftest import STOCK, World, make_world, s1_tenant, world  # noqa: F401  (fixtures)
