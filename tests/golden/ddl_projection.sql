CREATE DATABASE IF NOT EXISTS `traillake`;

CREATE EXTERNAL TABLE IF NOT EXISTS `traillake`.`cloudtrail` (
  `eventversion` string,
  `useridentity` struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>>>,
  `eventtime` string,
  `eventsource` string,
  `eventname` string,
  `awsregion` string,
  `sourceipaddress` string,
  `useragent` string,
  `errorcode` string,
  `errormessage` string,
  `requestparameters` string,
  `responseelements` string,
  `requestid` string,
  `eventid` string,
  `resources` array<struct<arn:string,accountid:string,type:string>>,
  `eventtype` string,
  `readonly` string,
  `recipientaccountid` string,
  `apiversion` string,
  `additionaleventdata` string,
  `serviceeventdetails` string,
  `sharedeventid` string,
  `vpcendpointid` string,
  `vpcendpointaccountid` string,
  `eventcategory` string,
  `managementevent` string,
  `sessioncredentialfromconsole` string,
  `tlsdetails` struct<tlsversion:string,ciphersuite:string,clientprovidedhostheader:string>,
  `addendum` string,
  `edgedevicedetails` string,
  `insightdetails` string,
  `otherfields` string COMMENT 'JSON object of every field without a column of its own, nested as in the record',
  `sourcekey` string COMMENT 'URL of the log object the row came from'
)
COMMENT 'AWS CloudTrail events, compacted by traillake'
PARTITIONED BY (`account` string, `region` string, `year` string, `month` string, `day` string)
STORED AS PARQUET
LOCATION 's3://example-bucket/cloudtrail-lake/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.account.type'='enum',
  'projection.account.values'='653711331788',
  'projection.region.type'='enum',
  'projection.region.values'='us-east-1',
  'projection.year.type'='integer',
  'projection.year.range'='2018,2018',
  'projection.year.digits'='4',
  'projection.month.type'='integer',
  'projection.month.range'='1,12',
  'projection.month.digits'='2',
  'projection.day.type'='integer',
  'projection.day.range'='1,31',
  'projection.day.digits'='2',
  'storage.location.template'='s3://example-bucket/cloudtrail-lake/account=${account}/region=${region}/year=${year}/month=${month}/day=${day}/'
);

CREATE EXTERNAL TABLE IF NOT EXISTS `traillake`.`cloudtrail_raw` (
  `eventversion` string,
  `useridentity` struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>>>,
  `eventtime` string,
  `eventsource` string,
  `eventname` string,
  `awsregion` string,
  `sourceipaddress` string,
  `useragent` string,
  `errorcode` string,
  `errormessage` string,
  `requestparameters` string,
  `responseelements` string,
  `requestid` string,
  `eventid` string,
  `resources` array<struct<arn:string,accountid:string,type:string>>,
  `eventtype` string,
  `readonly` string,
  `recipientaccountid` string
)
ROW FORMAT SERDE 'com.amazon.emr.hive.serde.CloudTrailSerde'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://flaws2-logs/AWSLogs/653711331788/CloudTrail/';
