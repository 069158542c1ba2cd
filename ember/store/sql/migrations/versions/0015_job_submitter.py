"""jobs.submitter (who submitted the job: the studio's job list filters on it)

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: the jobs already there were submitted before anyone was recorded
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('submitter', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('submitter')
