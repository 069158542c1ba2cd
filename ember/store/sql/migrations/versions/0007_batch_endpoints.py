"""batch endpoints and deployments

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_endpoints',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name')
    )
    op.create_table('batch_deployments',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'endpoint', 'name')
    )


def downgrade() -> None:
    op.drop_table('batch_deployments')
    op.drop_table('batch_endpoints')
