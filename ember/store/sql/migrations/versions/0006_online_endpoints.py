"""online endpoints and deployments

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('online_endpoints',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('primary_key', sa.String(length=128), nullable=False),
    sa.Column('secondary_key', sa.String(length=128), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name')
    )
    op.create_table('online_deployments',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'endpoint', 'name')
    )


def downgrade() -> None:
    op.drop_table('online_deployments')
    op.drop_table('online_endpoints')
