"""serverless endpoints

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('serverless_endpoints',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('primary_key', sa.String(length=128), nullable=False),
    sa.Column('secondary_key', sa.String(length=128), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name')
    )


def downgrade() -> None:
    op.drop_table('serverless_endpoints')
