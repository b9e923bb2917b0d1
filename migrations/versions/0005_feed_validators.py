"""feeds: Last-Modified kept with the ETag it belongs to; feeds of revoked keys revoked

Revision ID: 0005
Revises: 0001

``content_etag`` / ``content_changed_at``: when a feed's content last changed, so
``If-Modified-Since`` is honoured also after an appointment left the feed (a removal moves no
row's ``updated_at``). The data step revokes feeds whose issuing key was revoked before
revoking a key revoked its feeds.
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None

# Feeds issued by a key that is already revoked (tests/feeds/test_feed_api.py runs this too).
REVOKE_FEEDS_OF_REVOKED_KEYS = (
    "UPDATE feeds SET revoked_at = (SELECT api_keys.revoked_at FROM api_keys"
    " WHERE api_keys.id = feeds.created_by_key_id)"
    " WHERE revoked_at IS NULL AND created_by_key_id IN"
    " (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL)")


def upgrade():
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_etag', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('content_changed_at', sa.DateTime(timezone=True),
                                      nullable=True))
    op.execute(REVOKE_FEEDS_OF_REVOKED_KEYS)


def downgrade():
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_column('content_changed_at')
        batch_op.drop_column('content_etag')
