"""job reuse key (pipeline step reuse), index on parent job (pipeline steps, sweep trials)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('reuse_key', sa.String(length=64), nullable=True))
        batch.create_index('ix_jobs_reuse', ['workspace', 'reuse_key'])
        batch.create_index('ix_jobs_parent', ['workspace', 'parent_job_name'])


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_parent')
        batch.drop_index('ix_jobs_reuse')
        batch.drop_column('reuse_key')
