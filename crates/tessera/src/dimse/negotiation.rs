//! What Tessera accepts in an A-ASSOCIATE-RQ (PS3.8 9.3.2, PS3.7 D.3.3): its AE title, known
//! calling AE titles (when only those are accepted), any transfer syntax it can parse (chosen in the requestor's order), and the SCP role a C-GET requestor
//! asks for on storage SOP classes (PS3.7 D.3.3.4).

use std::sync::Arc;

use dicom_core::dictionary::UidDictionary;
use dicom_dictionary_std::{uids, StandardSopClassDictionary};
use dicom_ul::association::server::{AccessControl, Negotiation};
use dicom_ul::pdu::{AssociationRJServiceUserReason, RequestorRoles, UserIdentity};

use super::peers::PeerTable;

/// The SOP classes of the services other than storage.
pub const SERVICE_CLASSES: [&str; 8] = [
    uids::VERIFICATION,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
    uids::STORAGE_COMMITMENT_PUSH_MODEL,
];

/// Whether Tessera stores instances of this SOP class: a storage SOP class of the standard
/// (its dictionary name ends in "Storage", or it lies in the storage branch
/// 1.2.840.10008.5.1.4.1.1 where new classes are added) or a private SOP class (outside
/// 1.2.840.10008), which vendors use for their own storage classes. The association accepts
/// every abstract syntax (dicom-ul's promiscuous mode, since its list cannot be a rule); a
/// command on a class Tessera does not serve is answered 0122 (SOP class not supported).
pub fn is_storage_class(uid: &str) -> bool {
    let uid = uid.trim_end_matches('\0');
    if SERVICE_CLASSES.contains(&uid) {
        return false;
    }
    if !uid.starts_with("1.2.840.10008.") {
        return true;
    }
    if let Some(entry) = StandardSopClassDictionary.by_uid(uid) {
        let name = entry
            .name
            .trim_end_matches(" (Retired)")
            .trim_end_matches(" SOP Class");
        return (name.ends_with("Storage") || name.contains("Storage - For"))
            && !name.contains("Commitment")
            && uid != uids::MEDIA_STORAGE_DIRECTORY_STORAGE;
    }
    uid.starts_with("1.2.840.10008.5.1.4.1.1.")
}

/// Called AE title must be Tessera's; calling AE title must be known unless unknown peers
/// are accepted.
pub struct Titles {
    pub peers: Arc<PeerTable>,
    pub accept_unknown: bool,
}

impl AccessControl for Titles {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.accept_unknown && self.peers.get(calling_ae_title).is_none() {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// SCP/SCU role selection: the requestor may be SCP for storage SOP classes (to receive a
/// C-GET's sub-operations) and for Storage Commitment (to receive N-EVENT-REPORTs).
pub struct Roles;

impl Negotiation for Roles {
    fn negotiate_roles(&self, sop_class_uid: &str, scu: bool, scp: bool) -> Option<RequestorRoles> {
        let class = sop_class_uid.trim_end_matches('\0');
        (is_storage_class(class) || class == uids::STORAGE_COMMITMENT_PUSH_MODEL)
            .then_some(RequestorRoles { scu, scp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_are_the_storage_ones() {
        for uid in [
            uids::CT_IMAGE_STORAGE,
            uids::MR_IMAGE_STORAGE,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
            uids::ENHANCED_SR_STORAGE,
            uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            uids::ENCAPSULATED_PDF_STORAGE,
            uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
        ] {
            assert!(is_storage_class(uid), "{uid}");
        }
        // Private (vendor) classes are stored; a class of the storage branch that the
        // dictionary does not know yet too.
        assert!(is_storage_class("1.3.46.670589.11.0.0.12.1"));
        assert!(is_storage_class("1.2.840.10008.5.1.4.1.1.999"));
        for uid in [
            uids::VERIFICATION,
            uids::STORAGE_COMMITMENT_PUSH_MODEL,
            uids::MEDIA_STORAGE_DIRECTORY_STORAGE,
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND,
        ] {
            assert!(!is_storage_class(uid), "{uid}");
        }
    }

    #[test]
    fn titles_are_checked() {
        let peers = Arc::new(PeerTable::parse(&["CT1=127.0.0.1:104".into()]).unwrap());
        let known_only = Titles {
            peers: Arc::clone(&peers),
            accept_unknown: false,
        };
        assert!(known_only
            .check_access("TESSERA", "CT1", "TESSERA", None)
            .is_ok());
        assert_eq!(
            known_only.check_access("TESSERA", "OTHER", "TESSERA", None),
            Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
        );
        assert_eq!(
            known_only.check_access("TESSERA", "CT1", "PACS", None),
            Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized)
        );
        let open = Titles {
            peers,
            accept_unknown: true,
        };
        assert!(open
            .check_access("TESSERA", "OTHER", "TESSERA", None)
            .is_ok());
    }
}
