"""Creates the resources of template.yaml on an AWS endpoint (moto server) and describes its functions.

Resources are created lazily, in dependency order: resolving ``!Ref X`` or ``!GetAtt X.Y``
creates X first. Types that only matter in AWS (IAM, log groups, bucket and queue
policies, cache policies) get a placeholder id.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from imagepipe.adapters.provenance_store import ProvenanceStore
from imagepipe.provenance.certificates import SigningChain, local_chain
from imagepipe.signed_urls import generate_key_pair
from imagepipe_tools import deploy
from imagepipe_tools.local import template as cfn

# Template parameters naming the secrets that `imagepipe deploy bootstrap` makes before a deploy.
SIGNING_SECRET = "SigningKeySecret"
C2PA_SECRET = "C2paSigningSecret"
BOOTSTRAPPED = frozenset({"CloudFrontPublicKeyPem", SIGNING_SECRET, C2PA_SECRET})
LOCAL_STATE_DIR = ".imagepipe"  # git-ignored
LOCAL_STACK_NAME = "imagepipe-local"
REGION = "us-east-1"


def samconfig_overrides(root: Path, environment: str) -> dict[str, str]:
    """``parameter_overrides`` of one samconfig.toml environment, as a dict."""
    path = root / "samconfig.toml"
    if not path.is_file():
        return {}
    config = tomllib.loads(path.read_text())
    raw = config.get(environment, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    pairs = shlex.split(raw) if isinstance(raw, str) else list(raw)
    return dict(pair.split("=", 1) for pair in pairs)


@dataclass(frozen=True)
class SqsTrigger:
    queue_url: str
    queue_arn: str
    batch_size: int
    report_failures: bool


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, str]
    triggers: list[SqsTrigger] = field(default_factory=list)
    has_url: bool = False


class LocalStack:
    def __init__(
        self,
        root: Path,
        *,
        endpoint_url: str | None,
        stack_name: str = LOCAL_STACK_NAME,
        region: str = REGION,
        parameters: dict[str, str] | None = None,
        c2pa_chain: SigningChain | None = None,
    ) -> None:
        """``c2pa_chain``: the C2PA signing chain to install (default: the developer's local
        chain, made once under .imagepipe/ so earlier demo files keep validating Trusted)."""
        self.root = root
        self.endpoint_url = endpoint_url
        self.region = region
        self.stack_name = stack_name
        self.template = cfn.load(root / "template.yaml")
        self._resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        self._overrides = {**samconfig_overrides(root, "local"), **(parameters or {})}
        self.physical: dict[str, str] = {}
        self.attributes: dict[str, dict[str, str]] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.public_keys: dict[str, str] = {}
        self.signing_keys: dict[str, str] = {}  # key id -> private PEM, for the key pairs it knows
        self._generated_keys: dict[str, str] = {}  # public PEM -> private PEM
        self._c2pa_chain = c2pa_chain
        self.c2pa_trust_anchor = ""  # the local root CA (PEM) that C2PA validation trusts
        self.parameters: dict[str, str] = {}  # the template parameters as deployed
        self.bootstrap: deploy.Bootstrap | None = None
        self._resolve: cfn.Resolver | None = None

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url)

    # -- deploying -----------------------------------------------------------------------

    def deploy(self) -> LocalStack:
        """Create what is missing and describe everything; safe to repeat on a running endpoint."""
        self.parameters = self._parameters()
        self._resolve = cfn.Resolver(
            self.template,
            self.parameters,
            region=self.region,
            stack_name=self.stack_name,
            ref=self._ref,
            attr=self._attr,
        )
        for logical_id in self._resources:
            self._ref(logical_id)
        self.functions = {
            logical_id: self._function(logical_id, spec)
            for logical_id, spec in self._resources.items()
            if spec["Type"] == "AWS::Serverless::Function"
        }
        return self

    def _parameters(self) -> dict[str, str]:
        values = {**cfn.parameter_defaults(self.template), **self._overrides}
        if not BOOTSTRAPPED <= set(values):
            values = {**values, **self._bootstrap(values["Stage"]), **self._overrides}
        self._remember_secrets(values[SIGNING_SECRET], values[C2PA_SECRET])
        # What the tools and tests that knew them as resources look the secrets up by.
        self.physical[SIGNING_SECRET], self.physical[C2PA_SECRET] = values[SIGNING_SECRET], values[C2PA_SECRET]
        ssm = self.client("ssm")
        for name, spec in self.template.get("Parameters", {}).items():
            if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                values[name] = ssm.get_parameter(Name=values[name])["Parameter"]["Value"]
        return values

    def _bootstrap(self, stage: str) -> dict[str, str]:
        """`imagepipe deploy bootstrap` on this endpoint, as before a real first deploy: the CloudFront key
        pair and the C2PA chain (the developer's local chain, or the one given) into their secrets.
        Idempotent: a running stack keeps what it has."""
        chain = self._c2pa_chain or local_chain(self.root / LOCAL_STATE_DIR)
        self.bootstrap = deploy.bootstrap(self.client, stage, c2pa=deploy.C2paSource.ready(chain))
        return self.bootstrap.overrides

    def _remember_secrets(self, signing_secret: str, c2pa_secret: str) -> None:
        """The C2PA trust anchor, and the private keys of the signing secret by public PEM: `signing_keys`
        maps the CloudFront keys made from them to their private halves (tests sign with them)."""
        secrets = self.client("secretsmanager")
        try:
            value = json.loads(secrets.get_secret_value(SecretId=c2pa_secret)["SecretString"])
            self.c2pa_trust_anchor = value.get("trust_anchor_pem", "")
            value = json.loads(secrets.get_secret_value(SecretId=signing_secret)["SecretString"])
        except (secrets.exceptions.ResourceNotFoundException, ValueError, TypeError):
            return  # secrets this stack did not make (and cannot read): nothing to remember
        state = deploy.SigningState(value)
        for key in [*state.keys(), *([state.staged] if state.staged else [])]:
            if key.get("private_key_pem"):
                self._generated_keys[deploy.public_pem_of(key["private_key_pem"])] = key["private_key_pem"]

    def outputs(self) -> dict[str, str]:
        """The template's Outputs as this stack resolves them (what `describe-stacks` lists for a deployed one)."""
        found = {}
        for name, spec in self.template.get("Outputs", {}).items():
            if "Condition" not in spec or self._resolve.condition(spec["Condition"]):
                found[name] = str(self._resolve(spec["Value"]))
        return found

    def _ref(self, logical_id: str) -> str:
        if logical_id not in self.physical:
            if logical_id not in self._resources:
                raise KeyError(f"template.yaml has no resource or parameter {logical_id!r}")
            self.physical[logical_id] = "(creating)"
            spec = self._resources[logical_id]
            if "Condition" in spec and not self._resolve.condition(spec["Condition"]):
                self.physical[logical_id] = f"local-{logical_id}-not-created"  # as CloudFormation: skipped
                return self.physical[logical_id]
            creator = getattr(self, "_create_" + spec["Type"].replace("::", "_"), None)
            props = self._resolve(spec.get("Properties", {})) if creator else {}
            self.physical[logical_id] = creator(logical_id, props) if creator else f"local-{logical_id}"
        return self.physical[logical_id]

    def _attr(self, logical_id: str, name: str) -> str:
        owner = self._resources.get(logical_id.removesuffix("Url"), {})
        if logical_id not in self._resources and "FunctionUrlConfig" in owner.get("Properties", {}):
            # SAM adds an AWS::Lambda::Url named {Function}Url; locally LocalRuntime.invoke serves it.
            return f"https://{self.stack_name}-{logical_id.removesuffix('Url')}.lambda-url.{self.region}.on.aws/".lower()
        self._ref(logical_id)
        try:
            return self.attributes[logical_id][name]
        except KeyError:
            return f"local-{logical_id}-{name}"

    def _create_AWS_SQS_Queue(self, logical_id: str, props: dict[str, Any]) -> str:
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in props.items()
            if key in {"FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "RedrivePolicy",
                       "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"}
        }
        name = props.get("QueueName", f"{self.stack_name}-{logical_id}")
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.attributes[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}
        return url

    def _create_AWS_S3_Bucket(self, logical_id: str, props: dict[str, Any]) -> str:
        name = props.get("BucketName", f"{self.stack_name}-{logical_id}".lower())
        s3 = self.client("s3")
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        self.attributes[logical_id] = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }
        queue_configs = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queue_configs:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={
                    "QueueConfigurations": [
                        {
                            "QueueArn": config["Queue"],
                            "Events": [config["Event"]],
                            **(
                                {"Filter": {"Key": {"FilterRules": config["Filter"]["S3Key"]["Rules"]}}}
                                if "Filter" in config
                                else {}
                            ),
                        }
                        for config in queue_configs
                    ]
                },
            )
        return name

    def _create_AWS_DynamoDB_Table(self, logical_id: str, props: dict[str, Any]) -> str:
        name = props.get("TableName", f"{self.stack_name}-{logical_id}")
        ddb = self.client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        try:
            ddb.create_table(**kwargs)
        except ddb.exceptions.ResourceInUseException:
            pass
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
        self.attributes[logical_id] = {"Arn": f"arn:aws:dynamodb:{self.region}:123456789012:table/{name}"}
        return name

    def _create_AWS_SSM_Parameter(self, logical_id: str, props: dict[str, Any]) -> str:
        name = props.get("Name", f"/{self.stack_name}/{logical_id}")
        ssm = self.client("ssm")
        try:  # the template's value is the initial one; a value set since is kept
            ssm.put_parameter(Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"))
        except ssm.exceptions.ParameterAlreadyExists:
            pass
        return name

    def _create_AWS_SecretsManager_Secret(self, logical_id: str, props: dict[str, Any]) -> str:
        name = props.get("Name", f"{self.stack_name}/{logical_id}")
        secrets = self.client("secretsmanager")
        try:
            return secrets.create_secret(Name=name, SecretString="{}")["ARN"]
        except secrets.exceptions.ResourceExistsException:
            return secrets.describe_secret(SecretId=name)["ARN"]

    def _ssm_public_key(self, value: str) -> str:
        """A PEM given as ``{{resolve:ssm:NAME}}``. A missing parameter (a slot a test names) gets a fresh
        key pair, as `imagepipe deploy rotate` would stage one; its private key lands in `signing_keys`."""
        match = re.match(r"^\{\{resolve:ssm:([^:}]+)(?::\d+)?\}\}$", value)
        if not match:
            return value
        ssm = self.client("ssm")
        try:
            return ssm.get_parameter(Name=match[1])["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            private_pem, public_pem = generate_key_pair()
            ssm.put_parameter(Name=match[1], Value=public_pem, Type="String")
            self._generated_keys[public_pem] = private_pem
            return public_pem

    def _create_AWS_CloudFront_PublicKey(self, logical_id: str, props: dict[str, Any]) -> str:
        config = {**props["PublicKeyConfig"]}
        config["EncodedKey"] = self._ssm_public_key(config["EncodedKey"])
        cloudfront = self.client("cloudfront")
        for item in cloudfront.list_public_keys().get("PublicKeyList", {}).get("Items", []):
            if item["Name"] == config["Name"]:
                key_id = item["Id"]
                break
        else:
            key_id = cloudfront.create_public_key(
                PublicKeyConfig={
                    "CallerReference": config.get("CallerReference", logical_id),
                    "Name": config["Name"],
                    "EncodedKey": config["EncodedKey"],
                    "Comment": config.get("Comment", ""),
                }
            )["PublicKey"]["Id"]
        self.public_keys[key_id] = config["EncodedKey"]
        if config["EncodedKey"] in self._generated_keys:
            self.signing_keys[key_id] = self._generated_keys[config["EncodedKey"]]
        return key_id

    def _create_AWS_CloudFront_KeyGroup(self, logical_id: str, props: dict[str, Any]) -> str:
        config = props["KeyGroupConfig"]
        cloudfront = self.client("cloudfront")
        for item in cloudfront.list_key_groups().get("KeyGroupList", {}).get("Items", []):
            if item["KeyGroup"]["KeyGroupConfig"]["Name"] == config["Name"]:
                return item["KeyGroup"]["Id"]
        return cloudfront.create_key_group(
            KeyGroupConfig={"Name": config["Name"], "Items": config["Items"], "Comment": config.get("Comment", "")}
        )["KeyGroup"]["Id"]

    def _create_AWS_CloudFront_Distribution(self, logical_id: str, props: dict[str, Any]) -> str:
        config = props["DistributionConfig"]
        cloudfront = self.client("cloudfront")
        comment = config.get("Comment", logical_id)
        existing = cloudfront.list_distributions().get("DistributionList", {}).get("Items", [])
        found = next((d for d in existing if d.get("Comment") == comment), None)
        if found is None:
            origins = config["Origins"]
            found = cloudfront.create_distribution(
                DistributionConfig={
                    "CallerReference": f"{self.stack_name}-{logical_id}",
                    "Comment": comment,
                    "Enabled": True,
                    "Origins": {
                        "Quantity": len(origins),
                        "Items": [
                            {"Id": o["Id"], "DomainName": o["DomainName"], "S3OriginConfig": {"OriginAccessIdentity": ""}}
                            if "S3OriginConfig" in o
                            else {"Id": o["Id"], "DomainName": o["DomainName"],
                                  "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}
                            for o in origins
                        ],
                    },
                    "DefaultCacheBehavior": {
                        "TargetOriginId": config["DefaultCacheBehavior"]["TargetOriginId"],
                        "ViewerProtocolPolicy": config["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
                    },
                }
            )["Distribution"]
        self.attributes[logical_id] = {"DomainName": found["DomainName"], "Id": found["Id"]}
        return found["Id"]

    # -- functions -----------------------------------------------------------------------

    def _function(self, logical_id: str, spec: dict[str, Any]) -> LocalFunction:
        defaults = self.template.get("Globals", {}).get("Function", {})
        props = {**defaults, **spec.get("Properties", {})}
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **spec.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        arn_to_url = {a["Arn"]: a["QueueUrl"] for a in self.attributes.values() if "QueueUrl" in a}
        triggers = [
            SqsTrigger(
                queue_url=arn_to_url[mapping["EventSourceArn"]],
                queue_arn=mapping["EventSourceArn"],
                batch_size=int(mapping.get("BatchSize", 10)),
                report_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
            )
            for mapping in self._event_source_mappings(logical_id)
        ]
        return LocalFunction(
            logical_id=logical_id,
            name=str(self._resolve(props.get("FunctionName", f"{self.stack_name}-{logical_id}"))),
            code_dir=self.root / str(props["CodeUri"]),
            handler=str(props.get("Handler", "app.lambda_handler")),
            timeout=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={k: str(v) for k, v in self._resolve(environment).items()},
            triggers=triggers,
            has_url="FunctionUrlConfig" in props,
        )

    def _event_source_mappings(self, function_id: str) -> list[dict[str, Any]]:
        """The SQS sources of a function: ``AWS::Lambda::EventSourceMapping`` resources naming
        it, and SAM ``Events`` of type SQS (the same thing written inside the function)."""
        found = [
            self._resolve(spec["Properties"])
            for spec in self._resources.values()
            if spec["Type"] == "AWS::Lambda::EventSourceMapping"
            and spec["Properties"].get("FunctionName") == {"Ref": function_id}
        ]
        for event in self._resources[function_id].get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "SQS":
                props = self._resolve(event["Properties"])
                found.append({**props, "EventSourceArn": props["Queue"]})
        return found

    def provenance_store(self) -> ProvenanceStore:
        """The provenance table as its readers see it (local tools: demo, upload, provenance)."""
        return ProvenanceStore(self.client("dynamodb"), self.function("provenance").environment["PROVENANCE_TABLE"])

    def function(self, short_name: str) -> LocalFunction:
        """A function by its directory name (``generate``, ``sign_url``) or logical id."""
        for fn in self.functions.values():
            if short_name in {fn.logical_id, fn.code_dir.name, fn.code_dir.name.replace("_", "-")}:
                return fn
        raise KeyError(f"no function {short_name!r}; known: {sorted(f.code_dir.name for f in self.functions.values())}")
