"""Every table of the store on one metadata: what the migrations build and are checked against."""

from sqlmodel import SQLModel

# Each import registers its tables on SQLModel.metadata.
import storage.alert_models
import storage.desk_models
import storage.mailbox_models
import storage.models
import storage.usage_models
import storage.verification_models  # noqa: F401

metadata = SQLModel.metadata
