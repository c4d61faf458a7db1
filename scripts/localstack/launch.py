"""Entry point used by start.sh: `python launch.py` == `python -m localstack.runtime.main`, plus
per-instance isolation that LocalStack's configuration cannot express.

- S3 spools object bodies to the hard-coded directory /tmp/localstack-s3-storage/<bucket>/, and
  DeleteBucket removes that bucket directory, so two instances on one machine that use the same
  bucket name would step on each other. Point the spool at $TMPDIR (start.sh gives every instance
  its own TMPDIR) before the S3 provider is instantiated.
"""

import os
import runpy
import tempfile

import localstack.services.s3.provider as s3_provider

# Read at S3Provider() construction time (a module global), so patching the module is enough.
s3_provider.DEFAULT_S3_TMP_DIR = os.path.join(tempfile.gettempdir(), "localstack-s3-storage")

runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
