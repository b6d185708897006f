from gateway.testing import run_query
from schema.testing import build_world


async def test_partner_admin_sees_own_customers_only(runtime):
    world = await build_world(runtime)
    query = "{ organizations(first: 10) { totalCount nodes { domain viewerAccess { via notice } } } }"
    reseller = (await run_query(runtime, query, token=world.tokens["reseller_admin"])).ok()
    assert sorted(n["domain"] for n in reseller["organizations"]["nodes"]) == ["acme.example", "unverified.example"]
    other = (await run_query(runtime, query, token=world.tokens["other_partner_admin"])).ok()
    assert other["organizations"]["totalCount"] == 0
    notices = {n["domain"]: n["viewerAccess"]["notice"] for n in reseller["organizations"]["nodes"]}
    assert notices["acme.example"] == "You are currently managing your customer acme.example"
    assert "not verified" in notices["unverified.example"]
