"""MLflow 3 traces: summaries, spans, tags and metadata

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('traces',
    sa.Column('trace_key', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('workspace', sa.String(length=255), nullable=False),
    sa.Column('trace_id', sa.String(length=64), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('request_time', sa.BigInteger(), nullable=False),
    sa.Column('execution_duration', sa.BigInteger(), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('request_preview', sa.Text(), nullable=True),
    sa.Column('response_preview', sa.Text(), nullable=True),
    sa.Column('client_request_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], ),
    sa.ForeignKeyConstraint(['workspace'], ['workspaces.name'], ),
    sa.PrimaryKeyConstraint('trace_key')
    )
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index('ix_traces_exp_time', ['experiment_id', 'request_time'],
                              unique=False)
        batch_op.create_index('ux_traces_ws_trace', ['workspace', 'trace_id'], unique=True)

    op.create_table('trace_spans',
    sa.Column('trace_key', sa.Integer(), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('parent_span_id', sa.String(length=16), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('span_type', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('start_time_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_time_ns', sa.BigInteger(), nullable=True),
    sa.Column('token_usage', sa.Text(), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['trace_key'], ['traces.trace_key'], ),
    sa.PrimaryKeyConstraint('trace_key', 'span_id')
    )
    op.create_table('trace_tags',
    sa.Column('trace_key', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['trace_key'], ['traces.trace_key'], ),
    sa.PrimaryKeyConstraint('trace_key', 'key')
    )
    op.create_table('trace_metadata',
    sa.Column('trace_key', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['trace_key'], ['traces.trace_key'], ),
    sa.PrimaryKeyConstraint('trace_key', 'key')
    )


def downgrade() -> None:
    op.drop_table('trace_metadata')
    op.drop_table('trace_tags')
    op.drop_table('trace_spans')
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.drop_index('ux_traces_ws_trace')
        batch_op.drop_index('ix_traces_exp_time')
    op.drop_table('traces')
