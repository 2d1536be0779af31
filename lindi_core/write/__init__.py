"""Writing: the staging area for new chunks, their consolidation into blobs, and uploaders."""

from lindi_core.write import uploaders
from lindi_core.write.staging import StagingArea
from lindi_core.write.uploaders import CallbackUploader, DirectoryUploader, FsspecUploader, Uploader

__all__ = ["CallbackUploader", "DirectoryUploader", "FsspecUploader", "StagingArea", "Uploader", "uploaders"]
