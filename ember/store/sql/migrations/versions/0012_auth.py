"""the team server: users, tokens, role assignments, audit log

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_users',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('password_hash', sa.String(length=512), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('auth_tokens',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('workspace', sa.String(length=255), nullable=True),
    sa.Column('subject', sa.String(length=512), nullable=True),
    sa.Column('grants', sa.JSON(), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=True),
    sa.Column('revoked_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_auth_tokens_user', 'auth_tokens', ['user'])
    op.create_index('ix_auth_tokens_subject', 'auth_tokens', ['subject'])
    op.create_table('auth_role_assignments',
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('user', 'workspace', 'role')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('principal', sa.String(length=600), nullable=False),
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=600), nullable=False),
    sa.Column('resource', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Integer(), nullable=False),
    sa.Column('client', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_log_time', 'audit_log', ['time'])
    op.create_index('ix_audit_log_user', 'audit_log', ['user'])
    op.create_index('ix_audit_log_workspace', 'audit_log', ['workspace'])


def downgrade() -> None:
    op.drop_table('audit_log')
    op.drop_table('auth_role_assignments')
    op.drop_table('auth_tokens')
    op.drop_table('auth_users')
