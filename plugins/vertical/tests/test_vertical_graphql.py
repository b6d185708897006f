"""The vertical plugin through GraphQL: reads, mutations, developer access, outbox, batching."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.relay import encode_id
from gateway.testing import run_job, run_query
from plugins.vertical.models import SolutionInstance, SolutionUpgrade
from plugins.vertical.tests.conftest import VerticalWorld, add_organization, build_vertical_world
from schema.models import AuditEvent

INSTANCE_FIELDS = """
  id accountStatus userType isTestAccount lastTransactionAt
  solution { name } organization { domain } installedVersion { version } plan { code }
  upgradeAvailable upgradePreview { fromVersion { version } toVersion { version } versions { version } changes }
"""

UPGRADE = """mutation($input: UpgradeSolutionInstanceInput!) { upgradeSolutionInstance(input: $input) {
  upgrade { id status error fromVersion { version } toVersion { version } startedAt completedAt }
  instance { installedVersion { version } upgradeAvailable }
  userErrors { code message field } } }"""

BULK = """mutation($input: UpgradeSolutionInstancesInput!) { upgradeSolutionInstances(input: $input) {
  upgrades { status error instance { id isTestAccount } }
  skipped { id } skippedReasons { reason instance { id } } userErrors { code } } }"""

ACCESS = """mutation($input: DeveloperAccessInput!) { %s(input: $input) {
  instance { developerAccess { status requestedAt grantedAt revokedAt accessUrl } }
  userErrors { code message } } }"""

SET_STATUS = """mutation($input: SetSolutionAccountStatusInput!) { setSolutionAccountStatus(input: $input) {
  instance { accountStatus } userErrors { code message } } }"""


async def test_developer_reads_solution_versions_and_customers(gql: Any, vworld: VerticalWorld) -> None:
    query = """query($id: ID!) { solution(id: $id) { name developer { code }
        latestVersion { version } versions { version changes }
        customers(first: 10) { totalCount nodes { %s } } } }""" % INSTANCE_FIELDS
    data = (await gql(query, {"id": vworld.solution_id}, token=vworld.tokens["developer"])).ok()["solution"]
    assert data["developer"]["code"] == "DEVCO1"
    assert data["latestVersion"]["version"] == "2.0.0"
    assert [v["version"] for v in data["versions"]] == ["2.0.0", "1.1.0", "1.0.0"]
    customers = {c["organization"]["domain"]: c for c in data["customers"]["nodes"]}
    assert data["customers"]["totalCount"] == 3
    acme = customers["acme.example"]
    assert (acme["installedVersion"]["version"], acme["plan"]["code"], acme["userType"]) == ("1.0.0", "VERTICAL_STARTER", "PAID")
    assert acme["upgradeAvailable"] is True
    preview = acme["upgradePreview"]
    assert (preview["fromVersion"]["version"], preview["toVersion"]["version"]) == ("1.0.0", "2.0.0")
    assert [v["version"] for v in preview["versions"]] == ["1.1.0", "2.0.0"]
    assert "Reminders by SMS." in preview["changes"] and "New billing module." in preview["changes"]
    assert "First release." not in preview["changes"]
    assert customers["unverified.example"]["isTestAccount"] is True


async def test_customers_filter_and_csv_url(gql: Any, vworld: VerticalWorld) -> None:
    query = """query($id: ID!, $f: SolutionCustomerFilter) { solution(id: $id) {
        customers(first: 10, filter: $f) { nodes { organization { domain } } } customersCsvUrl(filter: $f) } }"""
    f = {"planCodes": ["VERTICAL_STARTER"], "userTypes": ["PAID"], "appVersions": ["1.0.0"]}
    data = (await gql(query, {"id": vworld.solution_id, "f": f}, token=vworld.tokens["developer"])).ok()["solution"]
    assert [n["organization"]["domain"] for n in data["customers"]["nodes"]] == ["acme.example"]
    url = data["customersCsvUrl"]
    assert url.startswith(f"/exports/vertical/solutions/{vworld.solution_id}/customers.csv?")
    assert "planCodes=VERTICAL_STARTER" in url and "userTypes=PAID" in url and "appVersions=1.0.0" in url
    f = {"ids": [vworld.instance_id("direct")]}
    data = (await gql(query, {"id": vworld.solution_id, "f": f}, token=vworld.tokens["developer"])).ok()["solution"]
    assert [n["organization"]["domain"] for n in data["customers"]["nodes"]] == ["direct.example"]


async def test_solution_visibility(gql: Any, vworld: VerticalWorld) -> None:
    query = "query($id: ID!) { solution(id: $id) { name } node(id: $id) { id } }"
    for role, visible in (("developer", True), ("platform_analyst", True), ("org_member", True),
                          ("other_partner_admin", False), ("reseller_admin", False), ("no_role", False)):
        data = (await gql(query, {"id": vworld.solution_id}, token=vworld.tokens[role])).ok()
        assert (data["solution"] is not None, data["node"] is not None) == (visible, visible), role
    customers = "query($id: ID!) { solution(id: $id) { customers { totalCount } } }"
    result = await gql(customers, {"id": vworld.solution_id}, token=vworld.tokens["org_super_admin"])
    assert result.error_codes == ["FORBIDDEN"]
    listing = (await gql("{ solutions { nodes { name } } }", token=vworld.tokens["other_partner_admin"])).ok()
    assert listing["solutions"]["nodes"] == []
    listing = (await gql("{ solutions { nodes { name } } }", token=vworld.tokens["developer"])).ok()
    assert listing["solutions"]["nodes"] == [{"name": "Clinic"}]


async def test_customer_sees_own_instances_and_storage_with_add_on(gql: Any, vworld: VerticalWorld) -> None:
    query = """query($id: ID!) { organization(id: $id) { solutionInstances { solution { name }
        storage { data { usedMb limitMb } file { usedMb limitMb } addOnGb } } } }"""
    data = (await gql(query, {"id": vworld.world.org_id("acme")}, token=vworld.tokens["org_super_admin"])).ok()
    [instance] = data["organization"]["solutionInstances"]
    assert instance["storage"] == {"data": {"usedMb": 100, "limitMb": 1024},
                                   "file": {"usedMb": 2000, "limitMb": 5120 + 3 * 1024}, "addOnGb": 3}


async def test_developer_needs_granted_access_for_customer_data(gql: Any, vworld: VerticalWorld) -> None:
    query = "query($id: ID!) { node(id: $id) { ... on SolutionInstance { storage { file { limitMb } } } } }"
    result = await gql(query, {"id": vworld.instance_id("acme")}, token=vworld.tokens["developer"])
    assert result.error_codes == ["FORBIDDEN"]
    (await gql(ACCESS % "grantDeveloperAccess", {"input": {"instanceId": vworld.instance_id("acme")}},
               token=vworld.tokens["org_super_admin"])).ok()
    data = (await gql(query, {"id": vworld.instance_id("acme")}, token=vworld.tokens["developer"])).ok()
    assert data["node"]["storage"]["file"]["limitMb"] == 5120 + 3 * 1024


async def test_create_publish_install_through_graphql(gql: Any, runtime: Any, vworld: VerticalWorld) -> None:
    token = vworld.tokens["developer"]
    created = (await gql("""mutation($input: CreateSolutionInput!) { createSolution(input: $input) {
        solution { id name developer { code } latestVersion { version } } userErrors { code } } }""",
        {"input": {"developerPartnerId": vworld.world.partner_id("devco"), "name": "Shop"}}, token=token)).ok()
    solution = created["createSolution"]["solution"]
    assert solution["developer"]["code"] == "DEVCO1" and solution["latestVersion"] is None
    refused = (await gql("""mutation($input: CreateSolutionInput!) { createSolution(input: $input) {
        solution { id } userErrors { code field } } }""",
        {"input": {"developerPartnerId": vworld.world.partner_id("reseller"), "name": "X"}},
        token=vworld.tokens["platform_admin"])).ok()
    assert refused["createSolution"]["userErrors"] == [{"code": "PARTNER_NOT_DEVELOPER", "field": ["developerPartnerId"]}]

    publish = """mutation($input: PublishSolutionVersionInput!) { publishSolutionVersion(input: $input) {
        version { version changes publishedAt } userErrors { code field message } } }"""
    ok = (await gql(publish, {"input": {"solutionId": solution["id"], "version": "1.0.0", "changes": "Hello."}},
                    token=token)).ok()["publishSolutionVersion"]
    assert ok["version"]["version"] == "1.0.0" and ok["userErrors"] == []
    same = (await gql(publish, {"input": {"solutionId": solution["id"], "version": "1.0.0", "changes": "Again."}},
                      token=token)).ok()["publishSolutionVersion"]
    assert same["version"] is None and same["userErrors"][0]["code"] == "VERSION_NOT_ABOVE_LATEST"
    assert "1.0.0" in same["userErrors"][0]["message"]

    async with runtime.sessions() as session, session.begin():
        stranger = await add_organization(session, "stranger.example")
        org = await add_organization(session, "fresh.example", vworld.world.partners["devco"])
    install = """mutation($input: InstallSolutionInput!) { installSolution(input: $input) {
        instance { accountStatus isTestAccount installedVersion { version } } userErrors { code } } }"""
    # A developer cannot attach an organization that is not its customer (and so read its details).
    refused = await gql(install, {"input": {"solutionId": solution["id"], "isTestAccount": False,
                                            "organizationId": encode_id("Organization", stranger)}}, token=token)
    assert refused.error_codes == ["FORBIDDEN"] and "mapped to your partner" in refused.errors[0]["message"]
    variables = {"input": {"solutionId": solution["id"], "organizationId": encode_id("Organization", org),
                           "isTestAccount": True}}
    data = (await gql(install, variables, token=token)).ok()["installSolution"]
    assert data["instance"] == {"accountStatus": "ACTIVE", "isTestAccount": True, "installedVersion": {"version": "1.0.0"}}
    again = (await gql(install, variables, token=token)).ok()["installSolution"]
    assert again["userErrors"] == [{"code": "ALREADY_INSTALLED"}]


async def test_upgrade_one_instance_with_idempotency_key(gql: Any, runtime: Any, vworld: VerticalWorld) -> None:
    variables = {"input": {"instanceId": vworld.instance_id("acme"), "idempotencyKey": "up-1"}}
    first = (await gql(UPGRADE, variables, token=vworld.tokens["org_super_admin"])).ok()["upgradeSolutionInstance"]
    assert first["upgrade"]["status"] == "COMPLETED"
    assert (first["upgrade"]["fromVersion"]["version"], first["upgrade"]["toVersion"]["version"]) == ("1.0.0", "2.0.0")
    assert first["instance"] == {"installedVersion": {"version": "2.0.0"}, "upgradeAvailable": False}
    replay = (await gql(UPGRADE, variables, token=vworld.tokens["org_super_admin"])).ok()["upgradeSolutionInstance"]
    assert replay["upgrade"]["id"] == first["upgrade"]["id"] and replay["userErrors"] == []
    again = (await gql(UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}},
                       token=vworld.tokens["org_super_admin"])).ok()["upgradeSolutionInstance"]
    assert again["upgrade"] is None and again["userErrors"][0]["code"] == "ALREADY_LATEST_VERSION"
    async with runtime.sessions() as session:
        assert len((await session.scalars(select(SolutionUpgrade))).all()) == 1
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "solution_instance.upgrade"))).one()
        assert (event.via, event.organization_id) == ("MEMBERSHIP", vworld.world.organizations["acme"])


async def test_upgrade_refused_for_inactive_instance(gql: Any, vworld: VerticalWorld) -> None:
    (await gql(SET_STATUS, {"input": {"instanceId": vworld.instance_id("acme"), "accountStatus": "INACTIVE"}},
               token=vworld.tokens["org_super_admin"])).ok()
    data = (await gql(UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}},
                      token=vworld.tokens["developer"])).ok()["upgradeSolutionInstance"]
    assert data["upgrade"] is None and data["userErrors"][0]["code"] == "INSTANCE_INACTIVE"
    assert "inactive" in data["userErrors"][0]["message"]


async def test_failing_runner_plugin_records_failed_upgrade(scripted: Any) -> None:
    runtime, runner = scripted
    vworld = await build_vertical_world(runtime)
    runner.failing.add(vworld.world.organizations["acme"])
    data = (await run_query(runtime, UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}},
                            token=vworld.tokens["developer"])).ok()["upgradeSolutionInstance"]
    assert data["upgrade"]["status"] == "FAILED" and "data migration to 2.0.0 failed" in data["upgrade"]["error"]
    assert data["instance"] == {"installedVersion": {"version": "1.0.0"}, "upgradeAvailable": True}
    history = (await run_query(runtime, """query($id: ID!) { node(id: $id) { ... on SolutionInstance {
        upgradeHistory(first: 5) { nodes { status error toVersion { version } } } } } }""",
        {"id": vworld.instance_id("acme")}, token=vworld.tokens["org_super_admin"])).ok()
    assert history["node"]["upgradeHistory"]["nodes"] == [
        {"status": "FAILED", "error": "data migration to 2.0.0 failed", "toVersion": {"version": "2.0.0"}}]
    assert [job.organization_id for job in runner.jobs] == [vworld.world.organizations["acme"]]


async def test_bulk_upgrade_mixed_fleet_never_touches_live_accounts(scripted: Any) -> None:
    runtime, runner = scripted
    vworld = await build_vertical_world(runtime)
    async with runtime.sessions() as session, session.begin():
        for key in ("test-a", "test-b", "live-a"):
            org = await add_organization(session, f"{key}.example")
            row = SolutionInstance(solution_id=vworld.solution, organization_id=org,
                                   installed_version_id=vworld.versions["1.0.0"], is_test_account=key.startswith("test"))
            session.add(row)
            await session.flush()
            vworld.instances[key] = row.id
            if key == "test-a":
                runner.failing.add(org)
    data = (await run_query(runtime, BULK, {"input": {"solutionId": vworld.solution_id}},
                            token=vworld.tokens["developer"])).ok()["upgradeSolutionInstances"]
    statuses = {u["instance"]["id"]: u["status"] for u in data["upgrades"]}
    assert statuses == {vworld.instance_id("unverified"): "COMPLETED", vworld.instance_id("test-a"): "FAILED",
                        vworld.instance_id("test-b"): "COMPLETED"}
    assert all(u["instance"]["isTestAccount"] for u in data["upgrades"])
    live = {vworld.instance_id(k) for k in ("acme", "direct", "live-a")}
    assert {s["id"] for s in data["skipped"]} == live
    assert {r["reason"] for r in data["skippedReasons"]} == {"TEST_ACCOUNT_FAILED"}
    assert {job.is_test_account for job in runner.jobs} == {True}
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(SolutionInstance).where(SolutionInstance.is_test_account.is_(False)))).all()
        assert {r.id: r.installed_version_id for r in rows} == {
            vworld.instances["acme"]: vworld.versions["1.0.0"], vworld.instances["direct"]: vworld.versions["1.1.0"],
            vworld.instances["live-a"]: vworld.versions["1.0.0"]}
        assert (await session.scalars(select(SolutionUpgrade).where(
            SolutionUpgrade.instance_id.in_([r.id for r in rows])))).all() == []


async def test_developer_access_flow_with_outbox_and_audit(gql: Any, runtime: Any, vworld: VerticalWorld) -> None:
    dev, boss, admin = vworld.tokens["developer"], vworld.tokens["org_super_admin"], vworld.tokens["platform_admin"]
    acme = {"input": {"instanceId": vworld.instance_id("acme")}}
    outbox = """query($to: String) { outbox(first: 10, to: $to) { totalCount nodes { to subject template body sentAt } } }"""

    requested = (await gql(ACCESS % "requestDeveloperAccess", acme, token=dev)).ok()["requestDeveloperAccess"]
    assert requested["instance"]["developerAccess"]["status"] == "REQUESTED"
    mail = (await gql(outbox, {"to": "boss@acme.example"}, token=admin)).ok()["outbox"]
    assert mail["totalCount"] == 1 and mail["nodes"][0]["template"] == "vertical.developer_access_requested"
    assert mail["nodes"][0]["sentAt"] is None  # queued; job outbox.deliver sends it
    assert (await run_job(runtime, "outbox.deliver"))["sent"] == 1  # the log transport (development)
    mail = (await gql(outbox, {"to": "boss@acme.example"}, token=admin)).ok()["outbox"]
    assert mail["nodes"][0]["sentAt"] is not None
    twice = (await gql(ACCESS % "requestDeveloperAccess", acme, token=dev)).ok()["requestDeveloperAccess"]
    assert twice["userErrors"][0]["code"] == "DEVELOPER_ACCESS_EXISTS" and "already exists" in twice["userErrors"][0]["message"]

    status = {"input": {"instanceId": vworld.instance_id("acme"), "accountStatus": "INACTIVE"}}
    assert (await gql(SET_STATUS, status, token=dev)).error_codes == ["FORBIDDEN"]

    granted = (await gql(ACCESS % "grantDeveloperAccess", acme, token=boss)).ok()["grantDeveloperAccess"]
    assert granted["instance"]["developerAccess"]["status"] == "GRANTED"
    assert granted["instance"]["developerAccess"]["accessUrl"] is None  # the URL is the developer's
    mail = (await gql(outbox, {"to": "dev@devco.example"}, token=admin)).ok()["outbox"]["nodes"]
    assert [m["template"] for m in mail] == ["vertical.developer_access_granted"]
    seen = (await gql("""query($id: ID!) { node(id: $id) { ... on SolutionInstance {
        developerAccess { status accessUrl } } } }""", {"id": vworld.instance_id("acme")}, token=dev)).ok()
    url = seen["node"]["developerAccess"]["accessUrl"]
    assert url and url in mail[0]["body"]

    changed = (await gql(SET_STATUS, status, token=dev)).ok()["setSolutionAccountStatus"]
    assert changed["instance"]["accountStatus"] == "INACTIVE"
    async with runtime.sessions() as session:
        event = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "solution_instance.set_account_status"))).one()
        assert (event.via, event.actor_user_id, event.organization_id) == (
            "DEVELOPER_ACCESS", vworld.world.user_ids["developer"], vworld.world.organizations["acme"])
    audit = (await gql("""query($id: ID!) { organization(id: $id) { auditEvents(first: 20) { nodes { action via } } } }""",
                       {"id": vworld.world.org_id("acme")}, token=boss)).ok()
    assert {"action": "solution_instance.set_account_status", "via": "DEVELOPER_ACCESS"} in \
        audit["organization"]["auditEvents"]["nodes"]

    revoked = (await gql(ACCESS % "revokeDeveloperAccess", acme, token=boss)).ok()["revokeDeveloperAccess"]
    assert revoked["instance"]["developerAccess"]["status"] == "REVOKED"
    mail = (await gql(outbox, {"to": "dev@devco.example"}, token=admin)).ok()["outbox"]["nodes"]
    assert mail[0]["template"] == "vertical.developer_access_revoked"
    back = {"input": {"instanceId": vworld.instance_id("acme"), "accountStatus": "ACTIVE"}}
    assert (await gql(SET_STATUS, back, token=dev)).error_codes == ["FORBIDDEN"]
    again = (await gql(ACCESS % "revokeDeveloperAccess", acme, token=boss)).ok()["revokeDeveloperAccess"]
    assert again["userErrors"][0]["code"] == "NO_DEVELOPER_ACCESS"


async def test_request_refused_for_inactive_instance(gql: Any, vworld: VerticalWorld) -> None:
    (await gql(SET_STATUS, {"input": {"instanceId": vworld.instance_id("acme"), "accountStatus": "INACTIVE"}},
               token=vworld.tokens["org_super_admin"])).ok()
    data = (await gql(ACCESS % "requestDeveloperAccess", {"input": {"instanceId": vworld.instance_id("acme")}},
                      token=vworld.tokens["developer"])).ok()["requestDeveloperAccess"]
    assert data["instance"] is None and data["userErrors"][0]["code"] == "INSTANCE_INACTIVE"


async def test_outbox_is_for_platform_admins_only(gql: Any, vworld: VerticalWorld) -> None:
    for role, code in (("platform_analyst", "FORBIDDEN"), ("org_super_admin", "FORBIDDEN"),
                       ("developer", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")):
        result = await gql("{ outbox { totalCount } }", token=vworld.tokens[role])
        assert result.error_codes == [code], role
    assert (await gql("{ outbox { totalCount } }", token=vworld.tokens["platform_admin"])).ok()["outbox"]["totalCount"] == 0


async def test_customer_list_statement_count_does_not_grow_with_rows(runtime: Any, vworld: VerticalWorld,
                                                                     client: Any, count_sql: Any) -> None:
    query = """query($id: ID!) { solution(id: $id) { customers(first: 100) { totalCount nodes {
        %s upgradeHistory(first: 3) { nodes { status fromVersion { version } } }
        developerAccess { status } storage { file { limitMb } } } } } }""" % INSTANCE_FIELDS
    admin = client.as_role("platform_admin")
    await admin.query(UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}})
    with count_sql() as small:
        data = (await admin.query(query, {"id": vworld.solution_id})).ok()
    assert data["solution"]["customers"]["totalCount"] == 3
    async with runtime.sessions() as session, session.begin():
        for n in range(30):
            org = await add_organization(session, f"bulk{n}.example")
            session.add(SolutionInstance(solution_id=vworld.solution, organization_id=org,
                                         installed_version_id=vworld.versions["1.0.0"], is_test_account=n % 2 == 0))
    with count_sql() as large:
        data = (await admin.query(query, {"id": vworld.solution_id})).ok()
    assert data["solution"]["customers"]["totalCount"] == 33
    assert large.count == small.count, (small.statements, large.statements)


async def test_disabled_developer_partner_changes_nothing(gql: Any, runtime: Any, vworld: VerticalWorld) -> None:
    from schema.models import Partner

    async with runtime.sessions() as session, session.begin():
        (await session.get(Partner, vworld.world.partners["devco"])).status = "DISABLED"
    publish = """mutation($input: PublishSolutionVersionInput!) { publishSolutionVersion(input: $input) {
        version { version } userErrors { code } } }"""
    data = (await gql(publish, {"input": {"solutionId": vworld.solution_id, "version": "3.0.0", "changes": "x"}},
                      token=vworld.tokens["developer"])).ok()["publishSolutionVersion"]
    assert data == {"version": None, "userErrors": [{"code": "RESELLER_DISABLED"}]}
    # "Can do nothing until enabled again", reads included (issue 11): the solution is not shown either.
    reads = (await gql("query($id: ID!) { solution(id: $id) { latestVersion { version } } }",
                       {"id": vworld.solution_id}, token=vworld.tokens["developer"])).ok()
    assert reads["solution"] is None


async def test_upgrade_history_pages_newest_first(gql: Any, runtime: Any, vworld: VerticalWorld) -> None:
    token = vworld.tokens["developer"]
    (await gql(UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}}, token=token)).ok()
    publish = """mutation($input: PublishSolutionVersionInput!) { publishSolutionVersion(input: $input) { userErrors { code } } }"""
    (await gql(publish, {"input": {"solutionId": vworld.solution_id, "version": "2.1.0", "changes": "More."}}, token=token)).ok()
    (await gql(UPGRADE, {"input": {"instanceId": vworld.instance_id("acme")}}, token=token)).ok()
    query = """query($id: ID!, $after: String) { node(id: $id) { ... on SolutionInstance {
        upgradeHistory(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        nodes { toVersion { version } } } } } }"""
    first = (await gql(query, {"id": vworld.instance_id("acme")}, token=token)).ok()["node"]["upgradeHistory"]
    assert first["totalCount"] == 2 and first["nodes"] == [{"toVersion": {"version": "2.1.0"}}]
    second = (await gql(query, {"id": vworld.instance_id("acme"), "after": first["pageInfo"]["endCursor"]},
                        token=token)).ok()["node"]["upgradeHistory"]
    assert second["nodes"] == [{"toVersion": {"version": "2.0.0"}}] and not second["pageInfo"]["hasNextPage"]
    hidden = await gql(query, {"id": vworld.instance_id("acme")}, token=vworld.tokens["other_partner_admin"])
    assert hidden.ok()["node"] is None


async def test_contradictory_date_range_is_a_clear_error(gql: Any, vworld: VerticalWorld) -> None:
    f = {"transactionDateFrom": "2026-05-02", "transactionDateTo": "2026-05-01"}
    query = "query($id: ID!, $f: SolutionCustomerFilter) { solution(id: $id) { customers(filter: $f) { totalCount } } }"
    result = await gql(query, {"id": vworld.solution_id, "f": f}, token=vworld.tokens["developer"])
    assert result.error_codes == ["BAD_USER_INPUT"] and "transactionDateFrom" in result.errors[0]["message"]
    data = (await gql(BULK, {"input": {"solutionId": vworld.solution_id, "filter": f}},
                      token=vworld.tokens["developer"])).ok()["upgradeSolutionInstances"]
    assert data["userErrors"] == [{"code": "INVALID_FILTER"}] and data["upgrades"] == []
