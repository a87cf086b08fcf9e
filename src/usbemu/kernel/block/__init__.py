"""The block layer — counterpart of Linux's block/: disks (genhd.py), the request queue
(blk_mq.py), block devices and their files (bdev.py, fops.py, ioctl.py), the queue's sysfs
files (blk_sysfs.py) and partition tables (partitions/).

A disk driver (sd) describes its disk with a `Gendisk` and a `RequestQueue` whose
`BlockDriver` executes requests; `add_disk` makes /dev/sdX, /sys/block/sdX and the
partitions found on it.  Nothing here knows SCSI or USB.
"""
