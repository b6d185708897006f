"""Solutions, versions, customer instances and upgrades as the graph shows them."""

from __future__ import annotations

import datetime as dt
import enum
from urllib.parse import urlencode

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.context import Context
from gateway.errors import BadUserInput, DomainError
from gateway.relay import Connection, Node, PageArgs, SortKey, decode_pk, encode_id, paginate_grouped
from gateway.request_cache import ByPrimaryKey
from plugins.vertical import models
from plugins.vertical.access import allowed_instances, allowed_solutions
from plugins.vertical.services.customers import CustomerFilter, customer_conditions
from plugins.vertical.services.developer_access import access_by_instance, access_url
from plugins.vertical.services.solutions import latest_versions, storage_add_on_gb, storage_of, version_key
from schema.catalog.types import Plan, plans_by_pk
from schema.common import required
from schema.organizations.types import Organization, organizations_by_pk
from schema.partners.types import Partner, partners_by_pk


def refusal(ctx: Context, action: str) -> Exception:
    return ctx.refusal(action)


@strawberry.enum
class SolutionAccountStatus(enum.Enum):
    TRIAL = "TRIAL"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@strawberry.enum
class SolutionUserType(enum.Enum):
    TRIAL = "TRIAL"
    PAID = "PAID"
    FREE = "FREE"


@strawberry.enum
class UpgradeStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.enum
class DeveloperAccessStatus(enum.Enum):
    REQUESTED = "REQUESTED"
    GRANTED = "GRANTED"
    REVOKED = "REVOKED"


@strawberry.input(description="Every given condition must hold (AND); lists match any of their values (OR).")
class SolutionCustomerFilter:
    ids: list[strawberry.ID] | None = strawberry.field(default=None, description="SolutionInstance IDs.")
    transaction_date_from: dt.date | None = strawberry.field(default=None, description="Last transaction on or after (UTC).")
    transaction_date_to: dt.date | None = strawberry.field(default=None, description="Last transaction on or before (UTC).")
    plan_codes: list[str] | None = None
    user_types: list[SolutionUserType] | None = None
    app_versions: list[str] | None = strawberry.field(default=None, description="Installed versions, e.g. \"2.1.0\".")
    account_status: list[SolutionAccountStatus] | None = None

    def to_service(self) -> CustomerFilter:
        return CustomerFilter(
            instance_ids=[decode_pk(i, "SolutionInstance") for i in self.ids] if self.ids is not None else None,
            transaction_date_from=self.transaction_date_from, transaction_date_to=self.transaction_date_to,
            plan_codes=self.plan_codes, user_types=[t.value for t in self.user_types] if self.user_types is not None else None,
            app_versions=self.app_versions,
            account_statuses=[s.value for s in self.account_status] if self.account_status is not None else None,
        )

    def query_parameters(self) -> list[tuple[str, str]]:
        """The filter as the CSV export's query parameters (repeated parameters for lists)."""
        params: list[tuple[str, str]] = []
        for name, values in (("ids", self.ids), ("planCodes", self.plan_codes), ("appVersions", self.app_versions),
                             ("userTypes", [t.value for t in self.user_types or []] or None),
                             ("accountStatus", [s.value for s in self.account_status or []] or None)):
            params.extend((name, str(v)) for v in values or [])
        for name, day in (("transactionDateFrom", self.transaction_date_from),
                          ("transactionDateTo", self.transaction_date_to)):
            if day is not None:
                params.append((name, day.isoformat()))
        return params


@strawberry.type(description="A published version of a solution and its release notes.")
class SolutionVersion(Node):
    id: strawberry.ID
    version: str
    changes: str = strawberry.field(description="The release notes of this version.")
    published_at: dt.datetime
    pk: strawberry.Private[int]
    solution_pk: strawberry.Private[int]
    key: strawberry.Private[tuple[int, int, int]]

    @classmethod
    def from_row(cls, row: models.SolutionVersion) -> SolutionVersion:
        return cls(id=strawberry.ID(encode_id("SolutionVersion", row.id)), version=row.version, changes=row.changes,
                   published_at=row.published_at, pk=row.id, solution_pk=row.solution_id, key=version_key(row))


@strawberry.type(description="A vertical solution sold by a developer partner to many customers.")
class Solution(Node):
    id: strawberry.ID
    name: str
    created_at: dt.datetime
    pk: strawberry.Private[int]
    developer_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.Solution) -> Solution:
        return cls(id=strawberry.ID(encode_id("Solution", row.id)), name=row.name, created_at=row.created_at,
                   pk=row.id, developer_pk=row.developer_partner_id)

    @batch_field(description="The developer partner that owns the solution.")
    @staticmethod
    async def developer(parents: list[Solution], ctx: Context) -> list[Partner | Exception]:
        return required(await partners_by_pk(ctx, [p.developer_pk for p in parents]), "Solution.developer")

    @batch_field(description="The highest published version; null before the first publication.")
    @staticmethod
    async def latest_version(parents: list[Solution], ctx: Context) -> list[SolutionVersion | None]:
        latest = await latest_versions(ctx.session, [p.pk for p in parents])
        return [SolutionVersion.from_row(latest[p.pk]) if p.pk in latest else None for p in parents]

    @batch_field(description="Every published version, highest first.")
    @staticmethod
    async def versions(parents: list[Solution], ctx: Context) -> list[list[SolutionVersion]]:
        rows = (await ctx.session.scalars(select(models.SolutionVersion).where(
            models.SolutionVersion.solution_id.in_([p.pk for p in parents])).order_by(
            models.SolutionVersion.major.desc(), models.SolutionVersion.minor.desc(),
            models.SolutionVersion.patch.desc()))).all()
        by_solution: dict[int, list[SolutionVersion]] = {}
        for row in rows:
            by_solution.setdefault(row.solution_id, []).append(SolutionVersion.from_row(row))
        return [by_solution.get(p.pk, []) for p in parents]

    @batch_field(description="The organizations that installed the solution (developers and platform staff).")
    @staticmethod
    async def customers(parents: list[Solution], ctx: Context, first: int | None = None, after: str | None = None,
                        filter: SolutionCustomerFilter | None = None,
                        ) -> list[Connection[SolutionInstance] | Exception]:
        allowed = await allowed_solutions(ctx, "solution.read_customers", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        try:
            conditions = customer_conditions(filter.to_service() if filter else None)
        except DomainError as error:
            raise BadUserInput(error.message, field=error.field) from None
        table = models.SolutionInstance
        pages = await paginate_grouped(
            ctx, select(table).where(table.solution_id.in_(keys), *conditions), entity=table,
            sort=[SortKey(table.id)], page=PageArgs(first=first, after=after), to_node=SolutionInstance.from_row,
            group_by=table.solution_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "solution.read_customers") for p in parents]

    @batch_field(description="The URL of the CSV export of the customers matching the filter (bearer token).")
    @staticmethod
    async def customers_csv_url(parents: list[Solution], ctx: Context,
                                filter: SolutionCustomerFilter | None = None) -> list[str]:
        query = urlencode(filter.query_parameters()) if filter else ""
        return [f"/exports/vertical/solutions/{p.id}/customers.csv" + (f"?{query}" if query else "") for p in parents]


@strawberry.type(description="One kind of storage of an instance, in megabytes.")
class StorageQuota:
    used_mb: int
    limit_mb: int


@strawberry.type(description="The instance's data and file storage; the VERTICAL_STORAGE add-on raises the file limit.")
class SolutionStorage:
    data: StorageQuota
    file: StorageQuota
    add_on_gb: int = strawberry.field(description="GB of the VERTICAL_STORAGE add-on on the VERTICAL subscription.")


@strawberry.type(description="The developer's access to a customer's instance.")
class DeveloperAccess:
    status: DeveloperAccessStatus
    requested_at: dt.datetime | None
    granted_at: dt.datetime | None
    revoked_at: dt.datetime | None
    access_url: str | None = strawberry.field(description="Shown to the developer while access is granted.")


@strawberry.type(description="What an upgrade to the latest version brings: the confirmation dialog's content.")
class UpgradePreview:
    from_version: SolutionVersion
    to_version: SolutionVersion
    versions: list[SolutionVersion] = strawberry.field(description="Every version above the installed one, oldest first.")
    changes: str = strawberry.field(description="The release notes of those versions, oldest first.")


@strawberry.type(description="A solution installed for a customer organization.")
class SolutionInstance(Node):
    id: strawberry.ID
    account_status: SolutionAccountStatus
    user_type: SolutionUserType
    is_test_account: bool
    last_transaction_at: dt.datetime | None
    installed_at: dt.datetime
    pk: strawberry.Private[int]
    solution_pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]
    installed_version_pk: strawberry.Private[int]
    plan_pk: strawberry.Private[int | None]
    row: strawberry.Private[models.SolutionInstance]

    @classmethod
    def from_row(cls, row: models.SolutionInstance) -> SolutionInstance:
        return cls(
            id=strawberry.ID(encode_id("SolutionInstance", row.id)),
            account_status=SolutionAccountStatus(row.account_status), user_type=SolutionUserType(row.user_type),
            is_test_account=row.is_test_account, last_transaction_at=row.last_transaction_at,
            installed_at=row.installed_at, pk=row.id, solution_pk=row.solution_id,
            organization_pk=row.organization_id, installed_version_pk=row.installed_version_id,
            plan_pk=row.plan_id, row=row,
        )

    @batch_field
    @staticmethod
    async def solution(parents: list[SolutionInstance], ctx: Context) -> list[Solution | Exception]:
        return required(await solutions_by_pk(ctx, [p.solution_pk for p in parents]), "SolutionInstance.solution")

    @batch_field
    @staticmethod
    async def organization(parents: list[SolutionInstance], ctx: Context) -> list[Organization | Exception]:
        return required(await organizations_by_pk(ctx, [p.organization_pk for p in parents]),
                        "SolutionInstance.organization")

    @batch_field
    @staticmethod
    async def installed_version(parents: list[SolutionInstance], ctx: Context) -> list[SolutionVersion | Exception]:
        return required(await versions_by_pk(ctx, [p.installed_version_pk for p in parents]),
                        "SolutionInstance.installedVersion")

    @batch_field(description="The plan of the organization's VERTICAL subscription.")
    @staticmethod
    async def plan(parents: list[SolutionInstance], ctx: Context) -> list[Plan | None]:
        return await plans_by_pk(ctx, [p.plan_pk for p in parents])

    @batch_field(description="True when a version above the installed one is published.")
    @staticmethod
    async def upgrade_available(parents: list[SolutionInstance], ctx: Context) -> list[bool]:
        latest = await latest_versions(ctx.session, [p.solution_pk for p in parents])
        return [p.solution_pk in latest and latest[p.solution_pk].id != p.installed_version_pk for p in parents]

    @batch_field(description="From the installed version to the latest, with the release notes in between; null when up to date.")
    @staticmethod
    async def upgrade_preview(parents: list[SolutionInstance], ctx: Context) -> list[UpgradePreview | None]:
        solution_pks = list({p.solution_pk for p in parents})
        rows = (await ctx.session.scalars(select(models.SolutionVersion).where(
            models.SolutionVersion.solution_id.in_(solution_pks)))).all()
        by_solution: dict[int, list[SolutionVersion]] = {}
        for row in sorted(rows, key=version_key):
            by_solution.setdefault(row.solution_id, []).append(SolutionVersion.from_row(row))
        result: list[UpgradePreview | None] = []
        for parent in parents:
            versions = by_solution.get(parent.solution_pk, [])
            installed = next((v for v in versions if v.pk == parent.installed_version_pk), None)
            newer = [v for v in versions if installed is not None and v.key > installed.key]
            if installed is None or not newer:
                result.append(None)
                continue
            notes = "\n\n".join(f"{v.version}\n{v.changes}" for v in newer)
            result.append(UpgradePreview(from_version=installed, to_version=newer[-1], versions=newer, changes=notes))
        return result

    @batch_field(description="Every upgrade attempt, newest first.")
    @staticmethod
    async def upgrade_history(parents: list[SolutionInstance], ctx: Context, first: int | None = None,
                              after: str | None = None) -> list[Connection[SolutionUpgrade] | Exception]:
        allowed = await allowed_instances(ctx, "solution_instance.read", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        table = models.SolutionUpgrade
        pages = await paginate_grouped(
            ctx, select(table).where(table.instance_id.in_(keys)), entity=table,
            sort=[SortKey(table.id, descending=True)], page=PageArgs(first=first, after=after),
            to_node=SolutionUpgrade.from_row, group_by=table.instance_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, "solution_instance.read") for p in parents]

    @batch_field(description="The developer's access to this instance, if ever requested or granted.")
    @staticmethod
    async def developer_access(parents: list[SolutionInstance], ctx: Context) -> list[DeveloperAccess | None]:
        rows = await access_by_instance(ctx.session, [p.pk for p in parents])
        see_url = await allowed_instances(ctx, "solution_instance.read_access_url", [p.pk for p in parents])
        result: list[DeveloperAccess | None] = []
        for parent in parents:
            row = rows.get(parent.pk)
            url = access_url(row.instance_id, row.access_code) if (
                row is not None and row.status == "GRANTED" and row.access_code and parent.pk in see_url) else None
            result.append(None if row is None else DeveloperAccess(
                status=DeveloperAccessStatus(row.status), requested_at=row.requested_at, granted_at=row.granted_at,
                revoked_at=row.revoked_at, access_url=url))
        return result

    @batch_field(description="Data and file storage: limit and usage (the customer's admins and granted developers).")
    @staticmethod
    async def storage(parents: list[SolutionInstance], ctx: Context) -> list[SolutionStorage | None | Exception]:
        allowed = await allowed_instances(ctx, "solution_instance.read_data", [p.pk for p in parents])
        extra = await storage_add_on_gb(ctx.session, [p.organization_pk for p in parents if p.pk in allowed])
        result: list[SolutionStorage | None | Exception] = []
        for parent in parents:
            if parent.pk not in allowed:
                result.append(refusal(ctx, "solution_instance.read_data"))
                continue
            storage = storage_of(parent.row, extra.get(parent.organization_pk, 0))
            result.append(SolutionStorage(
                data=StorageQuota(used_mb=storage.data_used_mb, limit_mb=storage.data_limit_mb),
                file=StorageQuota(used_mb=storage.file_used_mb, limit_mb=storage.file_limit_mb),
                add_on_gb=storage.add_on_gb))
        return result


@strawberry.type(description="One attempt to upgrade an instance; a FAILED one left the installed version as it was.")
class SolutionUpgrade(Node):
    id: strawberry.ID
    status: UpgradeStatus
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    error: str | None
    pk: strawberry.Private[int]
    instance_pk: strawberry.Private[int]
    from_pk: strawberry.Private[int]
    to_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.SolutionUpgrade) -> SolutionUpgrade:
        return cls(id=strawberry.ID(encode_id("SolutionUpgrade", row.id)), status=UpgradeStatus(row.status),
                   started_at=row.started_at, completed_at=row.completed_at, error=row.error, pk=row.id,
                   instance_pk=row.instance_id, from_pk=row.from_version_id, to_pk=row.to_version_id)

    @batch_field
    @staticmethod
    async def from_version(parents: list[SolutionUpgrade], ctx: Context) -> list[SolutionVersion | Exception]:
        return required(await versions_by_pk(ctx, [p.from_pk for p in parents]), "SolutionUpgrade.fromVersion")

    @batch_field
    @staticmethod
    async def to_version(parents: list[SolutionUpgrade], ctx: Context) -> list[SolutionVersion | Exception]:
        return required(await versions_by_pk(ctx, [p.to_pk for p in parents]), "SolutionUpgrade.toVersion")

    @batch_field(description="The instance that was upgraded.")
    @staticmethod
    async def instance(parents: list[SolutionUpgrade], ctx: Context) -> list[SolutionInstance | Exception]:
        return required(await instances_by_pk(ctx, [p.instance_pk for p in parents]), "SolutionUpgrade.instance")


# ---------------------------------------------------------------- look-ups by primary key (per-request cache)
solutions_by_pk = ByPrimaryKey("vertical_solutions", models.Solution, Solution.from_row)
versions_by_pk = ByPrimaryKey("vertical_versions", models.SolutionVersion, SolutionVersion.from_row)
instances_by_pk = ByPrimaryKey("vertical_instances", models.SolutionInstance, SolutionInstance.from_row)
upgrades_by_pk = ByPrimaryKey("vertical_upgrades", models.SolutionUpgrade, SolutionUpgrade.from_row)
