"""catalog price history and locked period prices

The list prices' history (catalog_price_changes), and the unit prices each subscription's current
period is charged at (subscriptions.period_price_per_license, period_storage_price_per_gb,
subscription_add_ons.period_unit_price). Existing rows are backfilled from today's list prices:
no price has changed yet, so those are the prices their current periods were charged at.

Revision ID: ed11e6554516
Revises: 677490bf8734
Create Date: 2026-12-02 10:49:24.858785

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = 'ed11e6554516'
down_revision: str | Sequence[str] | None = '677490bf8734'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    op.create_table('catalog_price_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('add_on_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=30), nullable=False),
    sa.Column('previous_amount', MONEY, nullable=False),
    sa.Column('new_amount', MONEY, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(plan_id IS NULL) <> (add_on_id IS NULL)', name=op.f('ck_catalog_price_changes_plan_or_add_on')),
    sa.ForeignKeyConstraint(['add_on_id'], ['add_ons.id'], name=op.f('fk_catalog_price_changes_add_on_id_add_ons')),
    sa.ForeignKeyConstraint(['changed_by_user_id'], ['users.id'], name=op.f('fk_catalog_price_changes_changed_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_catalog_price_changes_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_price_changes'))
    )
    with op.batch_alter_table('catalog_price_changes', schema=None) as batch_op:
        batch_op.create_index('ix_catalog_price_changes_add_on', ['add_on_id', 'id'], unique=False)
        batch_op.create_index('ix_catalog_price_changes_plan', ['plan_id', 'id'], unique=False)

    # Plain ADD COLUMN, never a batch "recreate": on SQLite (foreign keys on) dropping the old
    # `subscriptions` table would cascade into subscription_add_ons, subscription_changes and invoice_lines.
    # So the columns stay nullable in the database; the ORM always writes them.
    op.add_column('subscription_add_ons', sa.Column('period_unit_price', MONEY, nullable=True))
    op.add_column('subscriptions', sa.Column('period_price_per_license', MONEY, nullable=True))
    op.add_column('subscriptions', sa.Column('period_storage_price_per_gb', MONEY, nullable=True))
    op.execute(
        "UPDATE subscriptions SET"
        " period_price_per_license = (SELECT plans.price_per_license FROM plans WHERE plans.id = subscriptions.plan_id),"
        " period_storage_price_per_gb = (SELECT plans.storage_price_per_gb FROM plans"
        " WHERE plans.id = subscriptions.plan_id)")
    op.execute(
        "UPDATE subscription_add_ons SET period_unit_price ="
        " (SELECT add_ons.unit_price FROM add_ons WHERE add_ons.id = subscription_add_ons.add_on_id)")


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place (no table recreate, so no cascade)
    op.drop_column('subscriptions', 'period_storage_price_per_gb')
    op.drop_column('subscriptions', 'period_price_per_license')
    op.drop_column('subscription_add_ons', 'period_unit_price')

    with op.batch_alter_table('catalog_price_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_price_changes_plan')
        batch_op.drop_index('ix_catalog_price_changes_add_on')

    op.drop_table('catalog_price_changes')
