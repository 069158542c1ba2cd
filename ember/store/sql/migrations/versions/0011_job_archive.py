"""jobs.is_archived (az ml job archive / restore: hidden from the job list unless asked for)

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills the rows already there (none of them archived); tables.py
    # writes the value on every insert, so the default is only for this step.
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('is_archived', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('is_archived')
