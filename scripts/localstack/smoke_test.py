"""End-to-end check of a running LocalStack started by start.sh (run with the install's venv python):

    ~/.cache/lunasec-rs/localstack/venv/bin/python scripts/localstack/smoke_test.py http://127.0.0.1:4566

Checks the properties our tests rely on:
  S3   presigned PUT/GET with SSE-C; GET without the SSE-C key -> 400; wrong key -> 403;
       tampered or expired presigned URL -> 403 (signatures on presigned URLs are enforced)
  DDB  CreateTable, PutItem/GetItem, conditional PutItem -> ConditionalCheckFailedException
  SM   CreateSecret + GetSecretValue, also as a raw SigV4-signed JSON request
       (POST /, X-Amz-Target: secretsmanager.GetSecretValue, application/x-amz-json-1.1)
Prints one line per check and exits non-zero on the first failure.
"""

import base64
import hashlib
import json
import os
import sys
import time
import uuid

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4566"
REGION = "us-west-2"
SUFFIX = uuid.uuid4().hex[:8]

session = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
)
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1})
s3 = session.client("s3", endpoint_url=ENDPOINT, config=cfg)
ddb = session.client("dynamodb", endpoint_url=ENDPOINT, config=Config(retries={"max_attempts": 1}))
sm = session.client("secretsmanager", endpoint_url=ENDPOINT)


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f"  [{detail}]" if detail else ""), flush=True)
    if not cond:
        sys.exit(1)


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


# ---------------------------------------------------------------- S3
bucket = f"smoke-{SUFFIX}"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
check("s3 CreateBucket", True, bucket)

key_bytes = os.urandom(32)
sse = {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": base64.b64encode(key_bytes).decode(),
    "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
        hashlib.md5(key_bytes).digest()
    ).decode(),
}
sse_params = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key_bytes}
body = os.urandom(1024 * 1024)  # 1 MiB, past the in-memory spool threshold? (exercise the spool)

put_url = s3.generate_presigned_url(
    "put_object", Params={"Bucket": bucket, "Key": "obj", **sse_params}, ExpiresIn=300
)
r = requests.put(put_url, data=body, headers=sse)
check("s3 presigned PUT with SSE-C", r.status_code == 200, f"{r.status_code} {r.text[:200]}")

get_url = s3.generate_presigned_url(
    "get_object", Params={"Bucket": bucket, "Key": "obj", **sse_params}, ExpiresIn=300
)
r = requests.get(get_url, headers=sse)
check("s3 presigned GET with SSE-C", r.status_code == 200 and r.content == body, f"{r.status_code}")

plain_get_url = s3.generate_presigned_url(
    "get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=300
)
r = requests.get(plain_get_url)
check("s3 presigned GET without SSE-C key -> 400", r.status_code == 400, f"{r.status_code}")

wrong = os.urandom(32)
wrong_sse = {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": base64.b64encode(wrong).decode(),
    "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(wrong).digest()).decode(),
}
wrong_url = s3.generate_presigned_url(
    "get_object",
    Params={"Bucket": bucket, "Key": "obj", "SSECustomerAlgorithm": "AES256", "SSECustomerKey": wrong},
    ExpiresIn=300,
)
r = requests.get(wrong_url, headers=wrong_sse)
check("s3 presigned GET with wrong SSE-C key -> 403", r.status_code == 403, f"{r.status_code}")

# Tamper: flip one hex digit of the signature.
i = get_url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
flipped = "0" if get_url[i] != "0" else "1"
r = requests.get(get_url[:i] + flipped + get_url[i + 1 :], headers=sse)
check("s3 tampered signature -> 403", r.status_code == 403, f"{r.status_code}")
# Tamper: other key, same signature.
r = requests.get(get_url.replace("/obj?", "/obj2?"), headers=sse)
check("s3 tampered key in presigned URL -> 403", r.status_code == 403, f"{r.status_code}")
# Tamper: the signed SSE-C headers are missing from the request.
r = requests.get(get_url)
check("s3 presigned SSE-C URL used without its signed headers -> 403/400", r.status_code in (400, 403), f"{r.status_code}")

short_url = s3.generate_presigned_url(
    "get_object", Params={"Bucket": bucket, "Key": "obj", **sse_params}, ExpiresIn=1
)
time.sleep(2.1)
r = requests.get(short_url, headers=sse)
check("s3 expired presigned URL -> 403", r.status_code == 403, f"{r.status_code}")

# The S3 spool must be this instance's (launch.py), not the shared /tmp/localstack-s3-storage.
check(
    "s3 spool not in shared /tmp/localstack-s3-storage",
    not os.path.exists(f"/tmp/localstack-s3-storage/{bucket}"),
)

# ---------------------------------------------------------------- DynamoDB
table = f"smoke-{SUFFIX}"
_, dt = timed(
    lambda: ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
)
ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
check("ddb CreateTable", True, f"{dt:.2f}s")
ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
item = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True).get("Item")
check("ddb PutItem/GetItem", item == {"pk": {"S": "a"}, "v": {"S": "1"}}, str(item))
try:
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": "a"}, "v": {"S": "2"}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    check("ddb conditional PutItem fails", False, "no error")
except ClientError as e:
    code = e.response["Error"]["Code"]
    check("ddb conditional PutItem -> ConditionalCheckFailedException", code == "ConditionalCheckFailedException", code)

# ---------------------------------------------------------------- Secrets Manager
name = f"smoke/{SUFFIX}"
secret = json.dumps({"k": "v", "n": SUFFIX})
sm.create_secret(Name=name, SecretString=secret)
got = sm.get_secret_value(SecretId=name)["SecretString"]
check("secretsmanager CreateSecret/GetSecretValue (boto3)", got == secret)

# Same call as a raw request: exactly what a hand-written client has to send.
req = AWSRequest(
    method="POST",
    url=ENDPOINT + "/",
    data=json.dumps({"SecretId": name}),
    headers={
        "X-Amz-Target": "secretsmanager.GetSecretValue",
        "Content-Type": "application/x-amz-json-1.1",
    },
)
SigV4Auth(Credentials("test", "test"), "secretsmanager", REGION).add_auth(req)
r = requests.post(req.url, data=req.body, headers=dict(req.headers))
ok = r.status_code == 200 and r.json().get("SecretString") == secret
check("secretsmanager raw SigV4 JSON GetSecretValue", ok, f"{r.status_code} {r.text[:120]}")

print("all checks passed")
