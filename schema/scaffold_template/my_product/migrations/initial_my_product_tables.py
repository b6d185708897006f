"""initial my_product tables

Revision ID: __REVISION__
Revises:
Create Date: __CREATE_DATE__

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '__REVISION__'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('my_product',)
depends_on: str | Sequence[str] | None = '__CORE_HEAD__'


def upgrade() -> None:
    op.create_table('my_product_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('storage_gb', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('storage_gb >= 0', name=op.f('ck_my_product_accounts_storage_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_my_product_accounts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_my_product_accounts')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_my_product_accounts_organization_id'))
    )


def downgrade() -> None:
    op.drop_table('my_product_accounts')
