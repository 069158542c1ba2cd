"""model registry: registered models, versions, aliases

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registered_models',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_update_time', sa.BigInteger(), nullable=False),
    sa.Column('last_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name')
    )
    op.create_table('model_versions',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('model_id', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('flavors', sa.JSON(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_update_time', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name', 'version')
    )
    op.create_index('ix_model_versions_run', 'model_versions', ['workspace', 'run_id'])
    op.create_table('model_aliases',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name', 'alias')
    )


def downgrade() -> None:
    op.drop_table('model_aliases')
    op.drop_index('ix_model_versions_run', table_name='model_versions')
    op.drop_table('model_versions')
    op.drop_table('registered_models')
