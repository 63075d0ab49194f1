import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';
import type { PackageDefinition } from '@grpc/proto-loader';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';

/**
 * gRPC server reflection (v1 and v1alpha), so grpcurl and other stock tools can list and
 * call the services without the .proto files. @grpc/reflection reads serialized
 * FileDescriptorProtos; every one served comes from the protobuf-es descriptors that
 * `buf generate` embeds (no second codegen), the health service's included: a descriptor
 * converted by protobufjs names map entries in a way protoc rejects, and a client that
 * cannot link a file cannot call anything in it.
 */
export function reflectionService(services: readonly DescService[]): ReflectionService {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  [...services, Health].forEach((service) => {
    visit(service.file);
  });

  const fileDescriptorProtos = [...files.values()].map((file) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)),
  );
  // reflection only reads `fileDescriptorProtos` from each entry of the package definition.
  const definition = {
    reflected: { format: 'Protocol Buffer 3 FileDescriptorProto', fileDescriptorProtos },
  } as unknown as PackageDefinition;
  return new ReflectionService(definition);
}
