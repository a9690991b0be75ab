//! DIMSE command sets (PS3.7 9.3, 10.3, E.1): group 0000 elements, always in Implicit VR
//! Little Endian, flat (no sequences). Read and written by hand: the group is small and fixed,
//! and a malformed command must become an error (then an A-ABORT), never a panic.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::error::DimseError;
use tessera_dicom::status::StatusCode;

/// CommandDataSetType (0000,0800) meaning "no data set follows".
const NO_DATA_SET: u16 = 0x0101;
/// CommandDataSetType for "a data set follows" (any other value does; 0x0000 is customary).
const DATA_SET: u16 = 0x0000;

/// CommandField (0000,0100) values (PS3.7 E.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    CStoreRq,
    CStoreRsp,
    CGetRq,
    CGetRsp,
    CFindRq,
    CFindRsp,
    CMoveRq,
    CMoveRsp,
    CEchoRq,
    CEchoRsp,
    NEventReportRq,
    NEventReportRsp,
    NActionRq,
    NActionRsp,
    CCancelRq,
    /// A command Tessera does not serve (N-GET, N-SET, N-CREATE, N-DELETE, ...).
    Other(u16),
}

impl Field {
    pub fn code(self) -> u16 {
        match self {
            Field::CStoreRq => 0x0001,
            Field::CStoreRsp => 0x8001,
            Field::CGetRq => 0x0010,
            Field::CGetRsp => 0x8010,
            Field::CFindRq => 0x0020,
            Field::CFindRsp => 0x8020,
            Field::CMoveRq => 0x0021,
            Field::CMoveRsp => 0x8021,
            Field::CEchoRq => 0x0030,
            Field::CEchoRsp => 0x8030,
            Field::NEventReportRq => 0x0100,
            Field::NEventReportRsp => 0x8100,
            Field::NActionRq => 0x0130,
            Field::NActionRsp => 0x8130,
            Field::CCancelRq => 0x0FFF,
            Field::Other(code) => code,
        }
    }

    pub fn from_code(code: u16) -> Field {
        [
            Field::CStoreRq,
            Field::CStoreRsp,
            Field::CGetRq,
            Field::CGetRsp,
            Field::CFindRq,
            Field::CFindRsp,
            Field::CMoveRq,
            Field::CMoveRsp,
            Field::CEchoRq,
            Field::CEchoRsp,
            Field::NEventReportRq,
            Field::NEventReportRsp,
            Field::NActionRq,
            Field::NActionRsp,
            Field::CCancelRq,
        ]
        .into_iter()
        .find(|f| f.code() == code)
        .unwrap_or(Field::Other(code))
    }

    /// The response's field for a request's (the high bit set).
    pub fn response(self) -> Field {
        Field::from_code(self.code() | 0x8000)
    }

    /// The name used in logs and the audit trail.
    pub fn name(self) -> String {
        match self {
            Field::CStoreRq | Field::CStoreRsp => "C-STORE".into(),
            Field::CGetRq | Field::CGetRsp => "C-GET".into(),
            Field::CFindRq | Field::CFindRsp => "C-FIND".into(),
            Field::CMoveRq | Field::CMoveRsp => "C-MOVE".into(),
            Field::CEchoRq | Field::CEchoRsp => "C-ECHO".into(),
            Field::NEventReportRq | Field::NEventReportRsp => "N-EVENT-REPORT".into(),
            Field::NActionRq | Field::NActionRsp => "N-ACTION".into(),
            Field::CCancelRq => "C-CANCEL".into(),
            Field::Other(code) => format!("command {code:04X}"),
        }
    }
}

/// Sub-operation counts of C-MOVE and C-GET responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub remaining: u16,
    pub completed: u16,
    pub failed: u16,
    pub warning: u16,
}

/// One command set, typed. Absent elements are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub field: Field,
    pub message_id: Option<u16>,
    pub responding_to: Option<u16>,
    pub affected_sop_class: Option<String>,
    pub affected_sop_instance: Option<String>,
    pub requested_sop_class: Option<String>,
    pub requested_sop_instance: Option<String>,
    pub priority: Option<u16>,
    pub has_data_set: bool,
    pub status: Option<StatusCode>,
    pub error_comment: Option<String>,
    pub move_destination: Option<String>,
    pub move_originator_ae: Option<String>,
    pub move_originator_id: Option<u16>,
    pub event_type_id: Option<u16>,
    pub action_type_id: Option<u16>,
    pub counts: Option<Counts>,
}

impl Command {
    /// A command with only its field set.
    pub fn new(field: Field) -> Command {
        Command {
            field,
            message_id: None,
            responding_to: None,
            affected_sop_class: None,
            affected_sop_instance: None,
            requested_sop_class: None,
            requested_sop_instance: None,
            priority: None,
            has_data_set: false,
            status: None,
            error_comment: None,
            move_destination: None,
            move_originator_ae: None,
            move_originator_id: None,
            event_type_id: None,
            action_type_id: None,
            counts: None,
        }
    }

    /// The response to this request with `status`: same SOP class and instance, no data set.
    pub fn response(&self, status: StatusCode) -> Command {
        Command {
            responding_to: self.message_id,
            affected_sop_class: self
                .affected_sop_class
                .clone()
                .or_else(|| self.requested_sop_class.clone()),
            affected_sop_instance: self
                .affected_sop_instance
                .clone()
                .or_else(|| self.requested_sop_instance.clone()),
            status: Some(status),
            ..Command::new(self.field.response())
        }
    }

    /// The command set's bytes (Implicit VR Little Endian, with CommandGroupLength first).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(192);
        let uid = |body: &mut Vec<u8>, tag: Tag, value: &Option<String>| {
            if let Some(v) = value {
                put_text(body, tag, v, 0);
            }
        };
        let short = |body: &mut Vec<u8>, tag: Tag, value: Option<u16>| {
            if let Some(v) = value {
                put(body, tag, &v.to_le_bytes());
            }
        };
        // Elements in ascending tag order (PS3.5 7.1).
        uid(
            &mut body,
            tags::AFFECTED_SOP_CLASS_UID,
            &self.affected_sop_class,
        );
        uid(
            &mut body,
            tags::REQUESTED_SOP_CLASS_UID,
            &self.requested_sop_class,
        );
        short(&mut body, tags::COMMAND_FIELD, Some(self.field.code()));
        short(&mut body, tags::MESSAGE_ID, self.message_id);
        short(
            &mut body,
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            self.responding_to,
        );
        if let Some(destination) = &self.move_destination {
            put_text(&mut body, tags::MOVE_DESTINATION, destination, b' ');
        }
        short(&mut body, tags::PRIORITY, self.priority);
        short(
            &mut body,
            tags::COMMAND_DATA_SET_TYPE,
            Some(if self.has_data_set {
                DATA_SET
            } else {
                NO_DATA_SET
            }),
        );
        short(&mut body, tags::STATUS, self.status.map(|s| s.0));
        if let Some(comment) = &self.error_comment {
            let comment: String = comment.chars().filter(char::is_ascii).take(64).collect();
            put_text(&mut body, tags::ERROR_COMMENT, &comment, b' ');
        }
        uid(
            &mut body,
            tags::AFFECTED_SOP_INSTANCE_UID,
            &self.affected_sop_instance,
        );
        uid(
            &mut body,
            tags::REQUESTED_SOP_INSTANCE_UID,
            &self.requested_sop_instance,
        );
        short(&mut body, tags::EVENT_TYPE_ID, self.event_type_id);
        short(&mut body, tags::ACTION_TYPE_ID, self.action_type_id);
        if let Some(c) = self.counts {
            short(
                &mut body,
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS,
                Some(c.remaining),
            );
            short(
                &mut body,
                tags::NUMBER_OF_COMPLETED_SUBOPERATIONS,
                Some(c.completed),
            );
            short(
                &mut body,
                tags::NUMBER_OF_FAILED_SUBOPERATIONS,
                Some(c.failed),
            );
            short(
                &mut body,
                tags::NUMBER_OF_WARNING_SUBOPERATIONS,
                Some(c.warning),
            );
        }
        if let Some(ae) = &self.move_originator_ae {
            put_text(
                &mut body,
                tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
                ae,
                b' ',
            );
        }
        short(
            &mut body,
            tags::MOVE_ORIGINATOR_MESSAGE_ID,
            self.move_originator_id,
        );
        let mut out = Vec::with_capacity(body.len() + 12);
        put(
            &mut out,
            tags::COMMAND_GROUP_LENGTH,
            &(body.len() as u32).to_le_bytes(),
        );
        out.extend_from_slice(&body);
        out
    }

    /// Read a command set. Unknown group 0000 elements are skipped; anything that does not
    /// parse is an error.
    pub fn decode(bytes: &[u8]) -> Result<Command, DimseError> {
        let mut command = Command::new(Field::Other(0));
        let mut field = None;
        let mut data_set_type = None;
        let mut counts = Counts::default();
        let mut any_count = false;
        let mut rest = bytes;
        while !rest.is_empty() {
            if rest.len() < 8 {
                return Err(DimseError::Malformed(
                    "a command element header is cut short".into(),
                ));
            }
            let tag = Tag(
                u16::from_le_bytes([rest[0], rest[1]]),
                u16::from_le_bytes([rest[2], rest[3]]),
            );
            let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let value = rest.get(8..8 + len).ok_or_else(|| {
                DimseError::Malformed(format!(
                    "command element {tag} claims {len} bytes, more than the command holds"
                ))
            })?;
            rest = &rest[8 + len..];
            if tag.group() != 0x0000 {
                return Err(DimseError::Malformed(format!(
                    "element {tag} is not in the command group"
                )));
            }
            let us = || -> Result<u16, DimseError> {
                match value {
                    [a, b] => Ok(u16::from_le_bytes([*a, *b])),
                    _ => Err(DimseError::Malformed(format!(
                        "command element {tag} is not a 2-byte unsigned short"
                    ))),
                }
            };
            match tag {
                tags::COMMAND_FIELD => field = Some(us()?),
                tags::MESSAGE_ID => command.message_id = Some(us()?),
                tags::MESSAGE_ID_BEING_RESPONDED_TO => command.responding_to = Some(us()?),
                tags::AFFECTED_SOP_CLASS_UID => command.affected_sop_class = text(value),
                tags::AFFECTED_SOP_INSTANCE_UID => command.affected_sop_instance = text(value),
                tags::REQUESTED_SOP_CLASS_UID => command.requested_sop_class = text(value),
                tags::REQUESTED_SOP_INSTANCE_UID => command.requested_sop_instance = text(value),
                tags::PRIORITY => command.priority = Some(us()?),
                tags::COMMAND_DATA_SET_TYPE => data_set_type = Some(us()?),
                tags::STATUS => command.status = Some(StatusCode(us()?)),
                tags::ERROR_COMMENT => command.error_comment = text(value),
                tags::MOVE_DESTINATION => command.move_destination = text(value),
                tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE => {
                    command.move_originator_ae = text(value)
                }
                tags::MOVE_ORIGINATOR_MESSAGE_ID => command.move_originator_id = Some(us()?),
                tags::EVENT_TYPE_ID => command.event_type_id = Some(us()?),
                tags::ACTION_TYPE_ID => command.action_type_id = Some(us()?),
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS => {
                    counts.remaining = us()?;
                    any_count = true;
                }
                tags::NUMBER_OF_COMPLETED_SUBOPERATIONS => {
                    counts.completed = us()?;
                    any_count = true;
                }
                tags::NUMBER_OF_FAILED_SUBOPERATIONS => {
                    counts.failed = us()?;
                    any_count = true;
                }
                tags::NUMBER_OF_WARNING_SUBOPERATIONS => {
                    counts.warning = us()?;
                    any_count = true;
                }
                _ => {}
            }
        }
        command.field = Field::from_code(
            field.ok_or_else(|| DimseError::Malformed("the command has no CommandField".into()))?,
        );
        command.has_data_set = data_set_type
            .ok_or_else(|| DimseError::Malformed("the command has no CommandDataSetType".into()))?
            != NO_DATA_SET;
        command.counts = any_count.then_some(counts);
        Ok(command)
    }
}

/// A text value without its padding (spaces, NUL).
fn text(value: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(value);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    (!s.is_empty()).then(|| s.to_string())
}

fn put(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    out.extend_from_slice(&tag.group().to_le_bytes());
    out.extend_from_slice(&tag.element().to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// A text value padded to even length (UIDs with NUL, other text with a space).
fn put_text(out: &mut Vec<u8>, tag: Tag, value: &str, pad: u8) {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(pad);
    }
    put(out, tag, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_survives_encoding_with_its_group_length() {
        let mut command = Command::new(Field::CMoveRsp);
        command.responding_to = Some(7);
        command.affected_sop_class = Some("1.2.840.10008.5.1.4.1.2.2.2".into());
        command.status = Some(StatusCode::PENDING);
        command.counts = Some(Counts {
            remaining: 3,
            completed: 2,
            failed: 1,
            warning: 0,
        });
        command.error_comment = Some("odd".into());
        let bytes = command.encode();
        // CommandGroupLength counts every byte after itself.
        assert_eq!(
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            bytes.len() - 12
        );
        assert_eq!(Command::decode(&bytes).unwrap(), command);
    }

    #[test]
    fn malformed_commands_are_errors() {
        let good = Command::new(Field::CEchoRq).encode();
        assert!(Command::decode(&good[..good.len() - 1]).is_err());
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Command::decode(&huge).is_err());
        // No CommandField.
        let mut only_type = Vec::new();
        put(
            &mut only_type,
            tags::COMMAND_DATA_SET_TYPE,
            &NO_DATA_SET.to_le_bytes(),
        );
        assert!(Command::decode(&only_type).is_err());
        // A data set element in the command.
        let mut stray = good.clone();
        put(&mut stray, tags::PATIENT_ID, b"X ");
        assert!(Command::decode(&stray).is_err());
        assert!(Command::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn responses_answer_the_request() {
        let mut rq = Command::new(Field::CStoreRq);
        rq.message_id = Some(42);
        rq.affected_sop_class = Some("1.2.840.10008.5.1.4.1.1.2".into());
        rq.affected_sop_instance = Some("1.2.3".into());
        let rsp = rq.response(StatusCode::SUCCESS);
        assert_eq!(rsp.field, Field::CStoreRsp);
        assert_eq!(rsp.responding_to, Some(42));
        assert_eq!(rsp.affected_sop_instance.as_deref(), Some("1.2.3"));
        assert!(!rsp.has_data_set);
    }
}
