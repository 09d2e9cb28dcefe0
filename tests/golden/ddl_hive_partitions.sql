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
LOCATION 's3://example-bucket/cloudtrail-lake/';

ALTER TABLE `traillake`.`cloudtrail` ADD IF NOT EXISTS
  PARTITION (`account` = '653711331788', `region` = 'us-east-1', `year` = '2018', `month` = '11', `day` = '28') LOCATION 's3://example-bucket/cloudtrail-lake/account=653711331788/region=us-east-1/year=2018/month=11/day=28/';
