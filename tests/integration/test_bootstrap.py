"""`imagepipe deploy bootstrap|verify|rotate` on in-process moto (SSM, Secrets Manager, KMS, CloudFront),
the stack deployed from template.yaml with the values bootstrap wrote, as `sam deploy` would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from imagepipe.provenance.c2pa_signing import ContentCredentials, GenerationClaim
from imagepipe.provenance.certificates import generate_chain
from imagepipe.signed_urls import KeyRing
from imagepipe_tools import cli, deploy
from imagepipe_tools.local import template as cfn
from imagepipe_tools.local.stack import LocalStack, samconfig_overrides
from tests.conftest import ROOT


def clients(service: str):
    return boto3.client(service)


def pem_source(chain) -> deploy.C2paSource:
    return deploy.C2paSource("pem", chain_pem=chain.certificate_chain_pem, private_key_pem=chain.private_key_pem,
                             trust_anchor_pem=chain.trust_anchor_pem)


def deployed(overrides: dict[str, str], **parameters: str) -> LocalStack:
    """template.yaml deployed with bootstrap's values (and samconfig's [local] ones), as `sam deploy` does."""
    return LocalStack(ROOT, endpoint_url=None, parameters={**overrides, **parameters}).deploy()


def failed(checks: list[deploy.Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


def test_bootstrap_makes_the_key_pair_and_secrets_once(aws, c2pa_chain):
    """GIVEN a stage never bootstrapped WHEN bootstrap runs THEN the signing secret holds an RSA-2048
    private key whose public half is in a new SSM parameter (slot A), the C2PA secret holds the chain,
    and it returns the template values; a rerun creates and rewrites nothing."""
    first = deploy.bootstrap(clients, "prod", c2pa=pem_source(c2pa_chain))
    names = deploy.StageNames("prod")
    assert set(first.overrides) == set(deploy.OWNED_OVERRIDES)
    assert first.overrides["CloudFrontPublicKeyPem"].startswith("/imagepipe/prod/cloudfront/keys/")
    assert first.overrides["CloudFrontSecondPublicKeyPem"] == "" and first.overrides["C2paKmsKeyArn"] == ""

    secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    signing = json.loads(secrets.get_secret_value(SecretId=first.overrides["SigningKeySecret"])["SecretString"])
    private = serialization.load_pem_private_key(signing["private_key_pem"].encode(), password=None)
    assert private.key_size == 2048 and "key_id" not in signing  # slot A's id comes from the template
    parameter = ssm.get_parameter(Name=first.overrides["CloudFrontPublicKeyPem"])["Parameter"]
    assert deploy.same_public_key(parameter["Value"], deploy.public_pem_of(signing["private_key_pem"]))
    c2pa = json.loads(secrets.get_secret_value(SecretId=names.c2pa_secret)["SecretString"])
    assert c2pa["certificate_chain_pem"] == c2pa_chain.certificate_chain_pem

    versions = {arn: secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
                for arn in (first.overrides["SigningKeySecret"], first.overrides["C2paSigningSecret"])}
    again = deploy.bootstrap(clients, "prod", c2pa=deploy.C2paSource("dev"), now=datetime.now(UTC) + timedelta(days=1))
    assert again.overrides == first.overrides
    assert all(a.startswith(("kept", "slot")) for a in again.actions), again.actions
    assert "--replace-c2pa switches it to dev" not in " ".join(again.actions)  # dev is PEM too
    assert {arn: secrets.describe_secret(SecretId=arn)["VersionIdsToStages"] for arn in versions} == versions
    assert ssm.get_parameter(Name=first.overrides["CloudFrontPublicKeyPem"])["Parameter"]["Version"] == parameter["Version"]


def test_bootstrap_never_overwrites_what_it_cannot_use(aws, c2pa_chain):
    """GIVEN a signing secret of the stage's name that holds a placeholder, or a C2PA chain for another
    key THEN bootstrap refuses with what to do, and changes nothing."""
    secrets = boto3.client("secretsmanager")
    names = deploy.StageNames("dev")
    secrets.create_secret(Name=names.signing_secret, SecretString='{"key_id": "pending", "private_key_pem": "Zx8Q"}')
    with pytest.raises(deploy.DeployError, match="not a usable signing secret.*Fix or delete it"):
        deploy.bootstrap(clients, "dev", c2pa=pem_source(c2pa_chain))
    assert json.loads(secrets.get_secret_value(SecretId=names.signing_secret)["SecretString"])["key_id"] == "pending"

    secrets.delete_secret(SecretId=names.signing_secret, ForceDeleteWithoutRecovery=True)
    other = generate_chain(name="someone else")
    mismatched = deploy.C2paSource("pem", chain_pem=c2pa_chain.certificate_chain_pem, private_key_pem=other.private_key_pem)
    with pytest.raises(deploy.DeployError, match="does not certify the signing key"):
        deploy.bootstrap(clients, "dev", c2pa=mismatched)
    with pytest.raises(deploy.DeployError, match="choose --c2pa"):
        deploy.bootstrap(clients, "dev")


def test_verify_passes_on_a_bootstrapped_deploy_and_names_what_is_wrong_otherwise(aws, c2pa_chain):
    """GIVEN a stack deployed with bootstrap's values THEN every verify check passes (the key group's key
    is the secret's, a signed URL verifies, the chain signs a probe that reads Trusted); WHEN a secret is
    a placeholder, or a slot's parameter was rewritten, THEN verify fails saying so."""
    boot = deploy.bootstrap(clients, "dev", c2pa=pem_source(c2pa_chain))
    stack = deployed(boot.overrides)
    outputs = stack.outputs()
    assert outputs["SigningKeySecretArn"] == boot.overrides["SigningKeySecret"]
    checks = deploy.verify(clients, outputs, stack.parameters)
    assert failed(checks) == {}
    assert {c.name for c in checks} >= {"signing secret", "key group matches the secret", "public key parameters",
                                         "c2pa secret", "c2pa signs"}
    assert "reads Trusted" in next(c.detail for c in checks if c.name == "c2pa signs")

    secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    original = secrets.get_secret_value(SecretId=outputs["SigningKeySecretArn"])["SecretString"]
    secrets.put_secret_value(SecretId=outputs["SigningKeySecretArn"],  # what the old template's GenerateSecretString made
                             SecretString='{"key_id": "pending", "private_key_pem": "q8YbW2kE0xR7tTnA1mVdL4sHcJ9pGfZu"}')
    secrets.put_secret_value(SecretId=outputs["C2paSigningSecretArn"], SecretString='{"alg": "es256", "placeholder": "x"}')
    problems = failed(deploy.verify(clients, outputs, stack.parameters))
    assert "holds no signing key" in problems["signing secret"] and "imagepipe deploy bootstrap" in problems["signing secret"]
    assert "placeholder" in problems["c2pa secret"] and "bootstrap" in problems["c2pa secret"]

    secrets.put_secret_value(SecretId=outputs["SigningKeySecretArn"], SecretString=original)
    secrets.put_secret_value(SecretId=outputs["C2paSigningSecretArn"], SecretString=c2pa_chain.to_secret())
    ssm.put_parameter(Name=boot.overrides["CloudFrontPublicKeyPem"], Value=deploy.public_pem_of(generate_chain().private_key_pem),
                      Type="String", Overwrite=True)
    assert "rewritten after deploy" in failed(deploy.verify(clients, outputs, stack.parameters))["public key parameters"]


def test_kms_mode_makes_a_signing_key_that_c2pa_accepts_and_verify_checks_the_grant(aws):
    """GIVEN --c2pa kms --dev-ca THEN bootstrap creates an ECC_NIST_P256 SIGN_VERIFY key under the stage's
    alias, the secret names it (no private key anywhere), C2paKmsKeyArn is its ARN, and manifests signed
    through kms:Sign read Trusted; verify passes only when the stack grants kms:Sign on that key."""
    boot = deploy.bootstrap(clients, "prod", c2pa=deploy.C2paSource("kms", dev_ca=True))
    kms = boto3.client("kms")
    key = kms.describe_key(KeyId="alias/imagepipe-prod-c2pa")["KeyMetadata"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert boot.overrides["C2paKmsKeyArn"] == key["Arn"] == boot.c2pa_chain.kms_key_id
    stored = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=boot.overrides["C2paSigningSecret"])["SecretString"])
    assert stored["kms_key_id"] == key["Arn"] and stored["private_key_pem"] == ""

    credentials = ContentCredentials(boot.c2pa_chain, kms_client=kms)
    claim = GenerationClaim("0b6f0c2e-5d1e-8a4b-9c3d-2e1f0a9b8c7d", "local", "procedural-1", hashlib.sha256(b"x").hexdigest(),
                            "2026-12-04T12:00:00+00:00")
    assert credentials.validate(credentials.sign_original(deploy._probe_png(), "image/png", claim).data).state == "Trusted"

    assert deploy.bootstrap(clients, "prod").overrides == boot.overrides  # rerun: the same key, nothing new
    stack = deployed(boot.overrides)
    assert failed(deploy.verify(clients, stack.outputs(), stack.parameters)) == {}
    ungranted = {**stack.parameters, "C2paKmsKeyArn": ""}
    assert "grants kms:Sign on no key" in failed(deploy.verify(clients, stack.outputs(), ungranted))["c2pa secret"]


def test_a_new_kms_key_gets_a_certificate_request_then_the_chain_its_ca_issued(aws):
    """GIVEN --c2pa kms without a chain THEN bootstrap creates the key and returns a CSR signed by
    kms:Sign for it, installing no C2PA secret; WHEN the CA's chain for it is given THEN it is installed
    for the same key, and a chain for another key is refused."""
    pending = deploy.bootstrap(clients, "prod", c2pa=deploy.C2paSource("kms"))
    assert not pending.complete and "C2paSigningSecret" not in pending.overrides
    request = x509.load_pem_x509_csr(pending.csr_pem.encode())
    assert request.is_signature_valid
    kms = boto3.client("kms")
    key_arn = kms.describe_key(KeyId="alias/imagepipe-prod-c2pa")["KeyMetadata"]["Arn"]
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert request.public_key().public_bytes(*der) == kms.get_public_key(KeyId=key_arn)["PublicKey"]

    with pytest.raises(deploy.DeployError, match="does not certify the signing key"):
        deploy.bootstrap(clients, "prod", c2pa=deploy.C2paSource("kms", chain_pem=generate_chain().certificate_chain_pem))
    issued = generate_chain(name="a CA", leaf_public_key=request.public_key())  # the CA signs the request
    done = deploy.bootstrap(clients, "prod", c2pa=deploy.C2paSource("kms", chain_pem=issued.certificate_chain_pem,
                                                                    trust_anchor_pem=issued.trust_anchor_pem))
    assert done.complete and done.overrides["C2paKmsKeyArn"] == key_arn
    assert len(kms.list_keys()["Keys"]) == 1


def test_rotation_stages_slot_b_switches_after_its_deploy_and_retires_the_old_key(aws, c2pa_chain):
    """GIVEN a deployed stack WHEN rotate stages a key THEN slot B's parameter holds it and the stack still
    signs with slot A's key; switching is refused until the deployed key group trusts it; after the deploy
    the switch makes it current (the old key still in the ring), retiring waits a day, and the next
    rotation stages into the freed slot A."""
    boot = deploy.bootstrap(clients, "dev", c2pa=pem_source(c2pa_chain))
    first = deployed(boot.overrides)
    outputs = first.outputs()
    now = datetime.now(UTC)
    staged = deploy.rotate_stage(clients, "dev", now=now + timedelta(seconds=1))
    slot_b = staged.overrides["CloudFrontSecondPublicKeyPem"]
    assert slot_b and slot_b != boot.overrides["CloudFrontPublicKeyPem"]
    assert staged.overrides["CloudFrontPublicKeyPem"] == boot.overrides["CloudFrontPublicKeyPem"]
    secrets = boto3.client("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=boot.overrides["SigningKeySecret"])["SecretString"])
    assert KeyRing.from_secret(value, default_key_id=outputs["CloudFrontPublicKeyId"]).current().key_id == outputs["CloudFrontPublicKeyId"]
    assert failed(deploy.verify(clients, outputs, first.parameters)) == {}
    with pytest.raises(deploy.DeployError, match="already staged"):
        deploy.rotate_stage(clients, "dev")
    with pytest.raises(deploy.DeployError, match="does not trust the staged key yet"):
        deploy.rotate_switch(clients, "dev", outputs=outputs)

    # `sam deploy` with both slots: CloudFormation adds public key B and puts both in the key group
    # (moto has no UpdateKeyGroup, so the group is made anew here, as a replacement would be).
    cloudfront = boto3.client("cloudfront")
    key_b = cloudfront.create_public_key(PublicKeyConfig={
        "CallerReference": "slot-b", "Name": "slot-b",
        "EncodedKey": boto3.client("ssm").get_parameter(Name=slot_b)["Parameter"]["Value"]})["PublicKey"]["Id"]
    group = cloudfront.create_key_group(KeyGroupConfig={"Name": "rotated", "Items": [outputs["CloudFrontPublicKeyId"], key_b]})
    outputs = {**outputs, "CloudFrontSecondPublicKeyId": key_b, "CloudFrontKeyGroupId": group["KeyGroup"]["Id"]}
    parameters = {**first.parameters, **staged.overrides}

    switched = deploy.rotate_switch(clients, "dev", outputs=outputs, now=now + timedelta(minutes=1))
    assert "Retire it after" in switched.actions[0]
    value = json.loads(secrets.get_secret_value(SecretId=boot.overrides["SigningKeySecret"])["SecretString"])
    ring = KeyRing.from_secret(value)
    assert [k.key_id for k in ring.keys] == [outputs["CloudFrontPublicKeyId"], key_b]
    assert ring.current(now + timedelta(minutes=2)).key_id == key_b
    assert failed(deploy.verify(clients, outputs, parameters, now=now + timedelta(minutes=2))) == {}

    with pytest.raises(deploy.DeployError, match="may be valid until"):
        deploy.rotate_retire(clients, "dev", now=now + timedelta(hours=2))
    deploy.rotate_retire(clients, "dev", now=now + timedelta(days=1, minutes=10))
    value = json.loads(secrets.get_secret_value(SecretId=boot.overrides["SigningKeySecret"])["SecretString"])
    assert [k["key_id"] for k in value["keys"]] == [key_b]

    again = deploy.rotate_stage(clients, "dev", now=now + timedelta(days=2))
    assert again.overrides["CloudFrontSecondPublicKeyPem"] == slot_b  # B signs; A is the free slot now
    assert again.overrides["CloudFrontPublicKeyPem"] not in (slot_b, boot.overrides["CloudFrontPublicKeyPem"])


def test_the_command_writes_samconfig_once_and_keeps_the_rest_of_the_file(aws, tmp_path, monkeypatch, capsys):
    """GIVEN samconfig.toml WHEN `imagepipe deploy bootstrap --stage prod --c2pa dev` runs THEN the prod
    environment's parameter_overrides gain the five values (its others kept), every other line is
    untouched, SAM's parsing reads them back; a rerun leaves the file byte for byte."""
    shutil.copy(ROOT / "samconfig.toml", tmp_path / "samconfig.toml")
    monkeypatch.setenv("IMAGEPIPE_ROOT", str(tmp_path))
    before = (tmp_path / "samconfig.toml").read_text()
    assert cli.main(["deploy", "bootstrap", "--stage", "prod", "--c2pa", "dev"]) == 0
    after = (tmp_path / "samconfig.toml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1].startswith("parameter_overrides = ")
    overrides = samconfig_overrides(tmp_path, "prod")
    assert overrides["Stage"] == "prod" and overrides["LogLevel"] == "WARNING"
    assert overrides["CloudFrontSecondPublicKeyPem"] == "" and overrides["SigningKeySecret"].startswith("arn:aws:secretsmanager:")
    assert samconfig_overrides(tmp_path, "dev") == samconfig_overrides(ROOT, "dev")
    assert "next: sam deploy --config-env prod" in capsys.readouterr().out

    assert cli.main(["deploy", "bootstrap", "--stage", "prod"]) == 0
    assert (tmp_path / "samconfig.toml").read_text() == after
    assert "kept" in capsys.readouterr().out


TEMPLATE = cfn.load(ROOT / "template.yaml")
SIGNING_FUNCTIONS = {name for name, spec in TEMPLATE["Resources"].items() if spec["Type"] == "AWS::Serverless::Function"
                     and "C2PA_SIGNING_SECRET_ARN" in spec["Properties"].get("Environment", {}).get("Variables", {})}


def _kms_grants(node, path=()):
    """(path, statement) of every policy statement granting a kms: action, anywhere in the template."""
    if isinstance(node, dict):
        actions = node.get("Action")
        actions = [actions] if isinstance(actions, str) else actions if isinstance(actions, list) else []
        if "Effect" in node and any(str(a).startswith("kms:") for a in actions):
            yield path, node
        for key, value in node.items():
            yield from _kms_grants(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _kms_grants(value, (*path, index))


def _policies(function: str, parameters: dict[str, str]) -> list:
    resolver = cfn.Resolver(TEMPLATE, {**cfn.parameter_defaults(TEMPLATE), **parameters}, region="us-east-1",
                            stack_name="t", ref=lambda name: f"ref-{name}", attr=lambda name, attribute: f"{name}.{attribute}")
    return resolver(TEMPLATE["Resources"][function]["Properties"]["Policies"])


def test_kms_sign_is_granted_only_in_kms_mode_only_to_the_signing_functions_on_that_key():
    """GIVEN the template THEN kms:Sign appears only inside Fn::If C2paSignsWithKms in the policies of
    exactly the functions that sign C2PA (generate, derivatives, transform), on C2paKmsKeyArn with
    ES256 only; resolved, it is there with a key ARN and absent without one. The secrets are
    parameters without defaults: nothing in the template makes or holds a key."""
    assert SIGNING_FUNCTIONS == {"GenerateFunction", "DerivativesFunction", "TransformFunction"}
    grants = list(_kms_grants(TEMPLATE["Resources"]))
    assert sorted(path[0] for path, _ in grants) == sorted(SIGNING_FUNCTIONS)
    for path, statement in grants:
        assert path[1:3] == ("Properties", "Policies") and path[4] == "Fn::If"
        assert TEMPLATE["Resources"][path[0]]["Properties"]["Policies"][path[3]]["Fn::If"][0] == "C2paSignsWithKms"
        assert statement["Action"] == "kms:Sign" and statement["Resource"] == {"Ref": "C2paKmsKeyArn"}
        assert statement["Condition"]["StringEquals"]["kms:SigningAlgorithm"] == "ECDSA_SHA_256"
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for function in SIGNING_FUNCTIONS:
        assert not list(_kms_grants(_policies(function, {"C2paKmsKeyArn": ""})))
        assert [s["Resource"] for _, s in _kms_grants(_policies(function, {"C2paKmsKeyArn": arn}))] == [arn]

    assert not [n for n, s in TEMPLATE["Resources"].items() if s["Type"] == "AWS::SecretsManager::Secret"]
    for name in ("SigningKeySecret", "C2paSigningSecret", "CloudFrontPublicKeyPem"):
        assert "Default" not in TEMPLATE["Parameters"][name], name


def test_the_verify_command_reads_the_stack_and_exits_by_its_checks(aws, c2pa_chain, tmp_path, monkeypatch, capsys):
    """GIVEN `imagepipe deploy verify --stage dev` on a bootstrapped, deployed stack (its outputs and
    parameters as describe-stacks gives them) THEN it prints every check and exits 0; with a
    placeholder in the signing secret it exits 1 and says what to run."""
    shutil.copy(ROOT / "samconfig.toml", tmp_path / "samconfig.toml")
    monkeypatch.setenv("IMAGEPIPE_ROOT", str(tmp_path))
    assert cli.main(["deploy", "bootstrap", "--stage", "dev", "--c2pa", "dev"]) == 0
    stack = deployed(samconfig_overrides(tmp_path, "dev"))
    asked = []
    monkeypatch.setattr(deploy, "stack_description",
                        lambda cloudformation, name: asked.append(name) or (stack.outputs(), stack.parameters))
    capsys.readouterr()
    assert cli.main(["deploy", "verify", "--stage", "dev", "--skip-smoke"]) == 0
    out = capsys.readouterr().out
    assert asked == ["imagepipe-dev"] and "FAIL" not in out and "imagepipe-dev: verified" in out

    boto3.client("secretsmanager").put_secret_value(SecretId=stack.outputs()["SigningKeySecretArn"], SecretString="{}")
    assert cli.main(["deploy", "verify", "--stage", "dev", "--skip-smoke"]) == 1
    assert "FAIL  signing secret" in capsys.readouterr().out
