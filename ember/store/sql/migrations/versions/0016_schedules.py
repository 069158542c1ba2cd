"""schedules and schedule_fires (cron and recurrence triggers that submit jobs)

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('next_fire_time', sa.Float(), nullable=True),
    sa.Column('creation_time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('workspace', 'name')
    )
    op.create_index(op.f('ix_schedules_next_fire_time'), 'schedules', ['next_fire_time'],
                    unique=False)
    op.create_table('schedule_fires',
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('schedule', sa.String(length=255), nullable=False),
    sa.Column('fire_time', sa.Float(), nullable=False),
    sa.Column('job_name', sa.String(length=255), nullable=False),
    sa.Column('missed', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('workspace', 'schedule', 'fire_time')
    )


def downgrade() -> None:
    op.drop_table('schedule_fires')
    op.drop_index(op.f('ix_schedules_next_fire_time'), table_name='schedules')
    op.drop_table('schedules')
