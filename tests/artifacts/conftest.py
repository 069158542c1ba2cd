"""An S3 protocol server on loopback (moto's, a real HTTP server) and an Ember server whose
artifact store is a bucket on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ServerProc

S3_KEY_ID = "ember-test-key"
S3_SECRET = "ember-test-secret-do-not-log"


@dataclass
class S3Endpoint:
    url: str
    env: dict[str, str]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    port = moto.get_host_and_port()[1]
    url = f"http://127.0.0.1:{port}"
    yield S3Endpoint(url, {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": S3_KEY_ID,
                           "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                           "AWS_DEFAULT_REGION": "us-east-1"})
    moto.stop()


@pytest.fixture(scope="module")
def s3_server(s3_endpoint: S3Endpoint, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[ServerProc, str]]:
    """A real ``ember server start --artifacts-url s3://<bucket>/ember`` subprocess; only it
    (and what it starts) is given the endpoint and the credentials, in its environment."""
    bucket = f"ember-{uuid.uuid4().hex[:10]}"
    s3_endpoint.client().create_bucket(Bucket=bucket)
    srv = ServerProc(tmp_path_factory.mktemp("s3-home"),
                     extra=["--artifacts-url", f"s3://{bucket}/ember"])
    with pytest.MonkeyPatch.context() as mp:
        for k, v in s3_endpoint.env.items():
            mp.setenv(k, v)
        srv.start()
    yield srv, bucket
    srv.stop()
