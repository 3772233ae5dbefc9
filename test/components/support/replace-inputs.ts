// Which inputs force a replacement, per resource type: the data the blast-radius test diffs two
// program runs with. Paths are the Pulumi (camelCase) names of the Terraform attributes marked
// ForceNew / RequiresReplace in hashicorp/terraform-provider-aws, internal/service/ec2/ (read at
// the commits the search index stores; @pulumi/aws 7 wraps that provider), plus aws v6/v7's
// per-resource `region` (moving a resource to another region recreates it). "*" = every input.
// Only the attributes this program sets matter; the others are listed for completeness where read.

export const REPLACE_INPUTS: Record<string, { paths: string[]; source: string }> = {
  "aws:ec2/instance:Instance": {
    // userData / userDataBase64 only with userDataReplaceOnChange (CustomizeDiff ForceNewIf).
    paths: [
      "region",
      "ami",
      "associatePublicIpAddress",
      "availabilityZone",
      "cpuOptions",
      "ebsBlockDevices",
      "ebsOptimized",
      "enclaveOptions",
      "ephemeralBlockDevices",
      "hibernation",
      "hostId",
      "ipv6AddressCount",
      "ipv6Addresses",
      "keyName",
      "launchTemplate",
      "placementGroup",
      "placementPartitionNumber",
      "privateDnsNameOptions",
      "privateIp",
      "rootBlockDevice.encrypted",
      "rootBlockDevice.kmsKeyId",
      "securityGroups",
      "subnetId",
      "tenancy",
      "userData?userDataReplaceOnChange",
    ],
    source: "ec2_instance.go (ResourceInstance schema + CustomizeDiff), commit 0015dfcd",
  },
  "aws:ec2/eip:Eip": {
    paths: ["region", "address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"],
    source: "ec2_eip.go (resourceEIP), commit 01606926",
  },
  "aws:ec2/eipAssociation:EipAssociation": {
    paths: [
      "region",
      "allocationId",
      "allowReassociation",
      "instanceId",
      "networkInterfaceId",
      "privateIpAddress",
      "publicIp",
    ],
    source: "ec2_eip_association.go (no Update at all), commit 01c08000",
  },
  "aws:ec2/keyPair:KeyPair": {
    paths: ["region", "keyName", "keyNamePrefix", "publicKey"],
    source: "ec2_key_pair.go, commit 05bc9541",
  },
  "aws:ec2/securityGroup:SecurityGroup": {
    paths: ["region", "description", "name", "namePrefix", "vpcId"],
    source: "vpc_security_group.go, commit 01606926",
  },
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
    // cidrIpv4, ports, protocol and description update in place (ModifySecurityGroupRules);
    // switching the source kind (cidr ↔ prefix list ↔ group) replaces (ModifyPlan).
    paths: ["region", "securityGroupId"],
    source: "vpc_security_group_ingress_rule.go (RequiresReplace), commit 00a32209",
  },
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
    paths: ["region", "securityGroupId"],
    source: "vpc_security_group_egress_rule.go (same shared schema as the ingress rule)",
  },
  "aws:ec2/vpc:Vpc": {
    paths: ["region", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"],
    source: "vpc_.go (aws_vpc: cidr_block ForceNew)",
  },
  "aws:ec2/subnet:Subnet": {
    paths: [
      "region",
      "availabilityZone",
      "availabilityZoneId",
      "cidrBlock",
      "ipv4IpamPoolId",
      "ipv4NetmaskLength",
      "ipv6IpamPoolId",
      "ipv6Native",
      "ipv6NetmaskLength",
      "outpostArn",
      "vpcId",
    ],
    source: "vpc_subnet.go, commit 00cda125",
  },
  "aws:ec2/routeTable:RouteTable": {
    paths: ["region", "vpcId"],
    source: "vpc_route_table.go (vpc_id ForceNew; routes update in place)",
  },
  "aws:ec2/routeTableAssociation:RouteTableAssociation": {
    // route_table_id updates in place (ReplaceRouteTableAssociation).
    paths: ["region", "gatewayId", "subnetId"],
    source: "vpc_route_table_association.go, commit 0be71beb",
  },
  "aws:ec2/internetGateway:InternetGateway": {
    // vpc_id is Optional+Computed without ForceNew: attach/detach in Update.
    paths: ["region"],
    source: "vpc_internet_gateway.go (resourceInternetGateway)",
  },
  // @pulumi/command: the SDK adds replaceOnChanges ["triggers[*]"]; everything else updates.
  "command:remote:Command": { paths: ["triggers"], source: "@pulumi/command remote/command.js" },
  "command:remote:CopyToRemote": {
    paths: ["triggers"],
    source: "@pulumi/command remote/copyToRemote.js",
  },
  // @pulumi/tls and @pulumi/random have no Update: every input replaces.
  "tls:index/privateKey:PrivateKey": { paths: ["*"], source: "terraform-provider-tls" },
  "tls:index/certRequest:CertRequest": { paths: ["*"], source: "terraform-provider-tls" },
  "tls:index/selfSignedCert:SelfSignedCert": { paths: ["*"], source: "terraform-provider-tls" },
  "tls:index/locallySignedCert:LocallySignedCert": {
    paths: ["*"],
    source: "terraform-provider-tls",
  },
  "random:index/randomBytes:RandomBytes": { paths: ["*"], source: "terraform-provider-random" },
  "random:index/randomPassword:RandomPassword": {
    paths: ["*"],
    source: "terraform-provider-random",
  },
  // Our dynamic provider's diff (components/lb-server-provider.ts) decides: it replaces when the
  // server's name or the API it lives on changes.
  "pulumi-nodejs:dynamic/geoswarm:LbServer": {
    paths: ["serverName", "api.url"],
    source: "components/lb-server-provider.ts diff()",
  },
};
