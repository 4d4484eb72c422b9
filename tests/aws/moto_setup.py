#!/usr/bin/env python3
"""Switches on SigV4 checking in a fresh moto_server (see NOTES.md).

Usage: moto_setup.py ENDPOINT
Creates an IAM user "keybroker-test" with an access key and a policy that
allows secretsmanager:*, ec2-instance-connect:*, ec2:* and sts:AssumeRole on
"*", and a role "keybroker-instance-role" (secretsmanager:*) that the user
may assume (its temporary credentials stand in for an instance role), then
POST /moto-api/reset-auth (body 0) so every later request must be signed by
a known key.  Prints "ACCESS_KEY_ID SECRET_ACCESS_KEY" on stdout.
"""
import json
import sys
import urllib.request

import boto3


def main():
    ep = sys.argv[1].rstrip("/")
    iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1",
                       aws_access_key_id="AKIASETUP0000000000", aws_secret_access_key="setup")
    iam.create_user(UserName="keybroker-test")
    key = iam.create_access_key(UserName="keybroker-test")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:*", "ec2-instance-connect:*", "ec2:*",
                                          "sts:AssumeRole"],
         "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="keybroker-test",
                            PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="keybroker-test", PolicyArn=arn)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="keybroker-instance-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="keybroker-instance-role", PolicyName="secrets",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}))
    req = urllib.request.Request(ep + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    print(key["AccessKeyId"], key["SecretAccessKey"])


if __name__ == "__main__":
    main()
