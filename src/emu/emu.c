/* placeholder: the emulated NVML */
